// echobench's timeline: one sample per second of a load run (echoes
// completed, their p99, connections open), for the report's charts and the
// "timeline" array of --json.
//
// Every worker counts into its current interval [k, k + 1) s, on the run's
// clock (0 when echobench started connecting), and hands each interval over
// as it closes. The controller adds up interval k of every worker; once all
// of them have handed it in, only the sample is kept and the histogram goes,
// so a run of any length holds a few histograms and one sample per second.
//
//   worker 0:  [0] [1] [2] ─┐
//   worker 1:  [0] [1] ─────┼─> TimelineMerger ─> samples 0, 1 (2 waits for worker 1)
//
// Pure: no clocks, no threads; load/worker.cpp and load/controller.cpp do
// the handing over.
#pragma once

#include "echobench/results/histogram.h"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace echobench {

struct TimelineSample {
    double t_s = 0;                       // the interval's start, seconds on the run's clock
    double dt_s = 1;                      // its length: 1 but for the run's last (see finish)
    std::uint64_t msgs = 0;               // echoes completed in it, warm-up included
    std::optional<std::uint64_t> p99_ns;  // their 99th percentile; none without echoes
    std::uint32_t connections = 0;        // open at its end

    double msgs_per_sec() const { return dt_s > 0 ? static_cast<double>(msgs) / dt_s : 0.0; }
};

// One worker's interval k, handed to the controller when it closes.
struct TimelineInterval {
    std::uint64_t index = 0;        // k: the interval is [k, k + 1) s
    std::uint64_t msgs = 0;         // echoes completed in it
    std::uint32_t connections = 0;  // the worker's open connections at its end
    Histogram latency;              // of those echoes, ns
};

class TimelineMerger {
public:
    // sources: how many workers hand in intervals.
    explicit TimelineMerger(std::size_t sources) : sources_(sources) {}

    // Each source hands in its intervals in order, from 0, none skipped.
    // An interval already made into a sample is ignored (it cannot happen
    // unless a source broke that rule).
    void add(const TimelineInterval& interval);

    // Samples complete so far (every source has handed their interval in).
    const std::vector<TimelineSample>& samples() const { return samples_; }

    // Every source is done: makes samples of what is pending too, then cuts
    // the timeline at end_s, the end of the measured window: intervals that
    // start at or after it are dropped, the one that holds it ends there.
    // That last one, when shorter than 0.25 s and not the only one, is
    // folded into the second before it (msgs added, p99 of both seconds'
    // echoes, dt up to end_s): a few ms of echoes would be drawn as a spike
    // of p99 and a dip of throughput that did not happen. Lengths are whole
    // milliseconds, as --json writes them, so that a rate computed from the
    // JSON is the one drawn.
    std::vector<TimelineSample> finish(double end_s);

private:
    struct Pending {
        std::uint64_t msgs = 0;
        std::uint32_t connections = 0;
        std::size_t sources = 0;  // how many have handed this interval in
        Histogram latency;
    };

    void complete_front();
    void fold_last(std::vector<TimelineSample>& out, double end_s) const;

    // The workers hand intervals in for up to the drain's grace (1 s) and a
    // tick after the window ends, so the two seconds finish() may fold are
    // among the last few: their histograms are kept that long. Were they
    // gone, the fold would take the higher p99 of the two.
    static constexpr std::size_t held_count = 4;

    std::size_t sources_;
    std::uint64_t first_index_ = 0;  // the index of pending_.front()
    std::deque<Pending> pending_;
    std::vector<TimelineSample> samples_;
    std::deque<Histogram> held_;  // latency of the last held_count samples_, oldest first
};

// Concurrent runs (--merge): msgs and connections added up per interval by
// index; p99 is not known (percentiles do not add up) and left out.
std::vector<TimelineSample> merge_timelines(const std::vector<std::vector<TimelineSample>>& timelines);

// For drawing a long run at a readable size: every `width` consecutive
// samples made into one. msgs are added up over the whole span, so the
// rate is their mean; p99 and connections are the highest of the span, so
// that a spike stays visible. A width of 0 or 1 changes nothing.
std::vector<TimelineSample> coarsen_timeline(const std::vector<TimelineSample>& samples, std::size_t width);

}  // namespace echobench
