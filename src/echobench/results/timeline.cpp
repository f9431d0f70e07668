#include "echobench/results/timeline.h"

#include <algorithm>
#include <cmath>

namespace echobench {
namespace {

// A last fragment shorter than this is folded into the second before it.
constexpr double min_fragment_s = 0.25;

// --json writes lengths with 3 decimals: giving them in whole milliseconds
// here makes the page's rates and the ones read back from the JSON the same
// numbers. k / 1000.0 is the double nearest to k/1000, which {:.3f} writes
// as k/1000 and any reader parses back to the same double.
double whole_ms(double seconds) {
    return std::round(seconds * 1000.0) / 1000.0;
}

}  // namespace

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
    held_.push_back(std::move(pending_.front().latency));
    if (held_.size() > held_count) {
        held_.pop_front();
    }
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
        out.back().dt_s = whole_ms(std::min(1.0, end_s - s.t_s));
    }
    if (out.size() >= 2 && out.back().dt_s < min_fragment_s) {
        fold_last(out, end_s);
    }
    return out;
}

void TimelineMerger::fold_last(std::vector<TimelineSample>& out, double end_s) const {
    const TimelineSample fragment = out.back();
    out.pop_back();
    TimelineSample& last = out.back();
    last.msgs += fragment.msgs;
    last.connections = fragment.connections;  // open at its end, which is the fragment's
    last.dt_s = whole_ms(end_s - last.t_s);
    // held_ holds the histograms of the last held_.size() samples_; out is
    // a prefix of samples_, so out's index is samples_' too.
    const std::size_t first_held = samples_.size() - held_.size();
    const std::size_t at = out.size() - 1;
    if (at >= first_held) {
        Histogram both = held_[at - first_held];
        both.merge(held_[at + 1 - first_held]);
        last.p99_ns.reset();
        if (both.count() > 0) {
            last.p99_ns = both.percentile(99);
        }
    } else if (fragment.p99_ns && (!last.p99_ns || *fragment.p99_ns > *last.p99_ns)) {
        last.p99_ns = fragment.p99_ns;  // the histograms are gone: the higher p99, so a spike stays
    }
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
