#include "echobench/results/timeline.h"

#include <algorithm>
#include <cmath>

namespace echobench {

void TimelineMerger::add(const TimelineInterval& interval) {
    if (interval.index < first_index_) {
        return;
    }
    const std::uint64_t offset = interval.index - first_index_;
    while (pending_.size() <= offset) {
        pending_.emplace_back();
    }
    Pending& p = pending_[offset];
    p.msgs += interval.msgs;
    p.connections += interval.connections;
    p.latency.merge(interval.latency);
    ++p.sources;
    while (!pending_.empty() && pending_.front().sources >= sources_) {
        complete_front();
    }
}

void TimelineMerger::complete_front() {
    const Pending& p = pending_.front();
    TimelineSample sample;
    sample.t_s = static_cast<double>(first_index_);
    sample.msgs = p.msgs;
    sample.connections = p.connections;
    if (p.latency.count() > 0) {
        sample.p99_ns = p.latency.percentile(99);
    }
    samples_.push_back(sample);
    pending_.pop_front();
    ++first_index_;
}

std::vector<TimelineSample> TimelineMerger::finish(double end_s) {
    while (!pending_.empty()) {
        complete_front();
    }
    std::vector<TimelineSample> out;
    for (const TimelineSample& s : samples_) {
        if (!(s.t_s < end_s)) {
            break;
        }
        out.push_back(s);
        out.back().dt_s = std::min(1.0, end_s - s.t_s);
    }
    return out;
}

std::vector<TimelineSample> merge_timelines(const std::vector<std::vector<TimelineSample>>& timelines) {
    std::vector<TimelineSample> out;
    for (const auto& timeline : timelines) {
        for (std::size_t i = 0; i < timeline.size(); ++i) {
            if (out.size() <= i) {
                out.push_back(timeline[i]);
                out.back().p99_ns.reset();
                continue;
            }
            out[i].msgs += timeline[i].msgs;
            out[i].connections += timeline[i].connections;
            out[i].dt_s = std::max(out[i].dt_s, timeline[i].dt_s);
        }
    }
    return out;
}

std::vector<TimelineSample> coarsen_timeline(const std::vector<TimelineSample>& samples, std::size_t width) {
    if (width <= 1) {
        return samples;
    }
    std::vector<TimelineSample> out;
    out.reserve((samples.size() + width - 1) / width);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const TimelineSample& s = samples[i];
        if (i % width == 0) {
            out.push_back(s);
            continue;
        }
        TimelineSample& span = out.back();
        span.dt_s += s.dt_s;
        span.msgs += s.msgs;
        if (s.p99_ns && (!span.p99_ns || *s.p99_ns > *span.p99_ns)) {
            span.p99_ns = s.p99_ns;
        }
        span.connections = std::max(span.connections, s.connections);
    }
    return out;
}

}  // namespace echobench
