// What one worker's clients count: echoes and their latencies, errors,
// connections, and the timeline's seconds. Written on the worker's thread
// only, by its clients and its tick; the controller reads the published
// totals while the run goes and everything else after join().
//
// The hot path takes no lock: the totals go out through relaxed atomics
// (single writer: plain stores), the histogram is copied under a mutex a few
// times a second for the progress line only, and each closed second of the
// timeline (results/timeline.h) is handed over under another mutex: once a
// second, never per message. A message counts when its echo completes inside
// the measured window (with -n: when it was claimed, see client.h).
#pragma once

#include "echobench/load/run_control.h"
#include "echobench/results/histogram.h"
#include "echobench/results/result.h"
#include "echobench/results/timeline.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace echobench {

class LoadCounters {
public:
    // messages_total: -n, or 0.
    LoadCounters(RunControl& control, std::uint64_t messages_total);
    LoadCounters(const LoadCounters&) = delete;
    LoadCounters& operator=(const LoadCounters&) = delete;

    // --- The worker's thread.
    void start(std::uint64_t now);    // the worker's loop starts: the run's first second begins
    void prepare(std::uint64_t now);  // from the tick: what the next echoes must not allocate
    void begin_drain();               // the timeline keeps the connections open at this moment
    void finish(std::uint64_t now);   // the loop is done: the last, partial second is handed over

    // -n: whether a message sent at now_ns counts (the window has opened),
    // and how many of count such messages may still go, claimed from the
    // run's total so that exactly -n are ever sent to be counted.
    bool window_open(std::uint64_t now_ns) const {
        return now_ns >= control_.window_start_ns.load(std::memory_order_relaxed);
    }
    std::uint64_t claim_messages(std::uint64_t count);

    // Where an echo completing at now_ns falls; once per read, before
    // count_echo for each message it completes.
    struct EchoTime {
        bool measured = false;  // inside the measured window: counts in the result
        bool recorded = false;  // before the window's end: counts in the timeline
    };
    EchoTime echo_time(std::uint64_t now_ns);
    void count_echo(EchoTime when, std::uint64_t latency_ns);
    void count_connect_started() { ++connecting_; }
    // A connect completed at now_ns, latency_ns after it was called. A
    // replacement (churn) is not one of the run's first connections: it
    // counts in connects() when inside the window, not in established().
    void count_connected(std::uint64_t now_ns, std::uint64_t latency_ns, bool replacement);
    void count_connect_failed(const std::string& reason, bool replacement);
    void count_broken(const std::string& reason);
    void count_mismatch(const std::string& reason);
    void count_timeout(const std::string& reason);
    void count_closed(bool was_open);  // a client's close() began
    // A place that had a connection has none left (with churn, not when a
    // new connection takes its place).
    void count_place_ended() { live_.fetch_sub(1, std::memory_order_relaxed); }
    void count_sent(std::uint64_t bytes) { sent_bytes_ += bytes; }  // a write completed: in the kernel's hands
    std::uint32_t connecting() const { return connecting_; }

    // --- The controller, while the worker runs.
    std::uint32_t established() const { return established_.load(std::memory_order_relaxed); }
    std::uint32_t settled() const { return settled_.load(std::memory_order_relaxed); }  // connected or failed
    std::uint32_t open_clients() const { return open_.load(std::memory_order_relaxed); }
    // Places with a connection, open or (churn) about to be replaced: when
    // none is left, every connection broke.
    std::uint32_t live_places() const { return live_.load(std::memory_order_relaxed); }
    std::uint64_t echoed() const { return echoed_.load(std::memory_order_relaxed); }  // all, warm-up included
    std::uint64_t measured() const { return measured_.load(std::memory_order_relaxed); }
    void merge_snapshot_into(Histogram& out);  // the window's histogram, a moment ago
    // Moves the timeline intervals closed since the last call into out.
    void take_intervals(std::vector<TimelineInterval>& out);

    // --- The controller, after join().
    const Histogram& histogram() const { return histogram_; }
    const BenchErrors& errors() const { return errors_; }
    std::uint64_t sent_bytes() const { return sent_bytes_; }
    std::uint64_t connects() const { return connects_; }  // established inside the window
    const Histogram& connect_latency() const { return connect_latency_; }

private:
    void roll_timeline(std::uint64_t now_ns);  // closes the intervals that ended by now_ns
    void close_interval();                     // hands interval_ over, starts the next

    RunControl& control_;
    const std::uint64_t messages_total_;
    std::uint32_t connecting_ = 0;  // connects in flight
    bool draining_ = false;
    std::uint32_t open_at_drain_ = 0;  // open connections when draining began
    std::uint64_t last_snapshot_ns_ = 0;

    Histogram histogram_;  // the window's latencies, up to the last closed second
    BenchErrors errors_;
    std::uint64_t connects_ = 0;  // connections established inside the window
    Histogram connect_latency_;   // theirs: connect call to established, ns
    std::uint64_t measured_local_ = 0;
    std::uint64_t echoed_local_ = 0;
    TimelineInterval interval_;          // the second being counted; latency: its echoes outside the window
    Histogram interval_window_latency_;  // its echoes inside the window, for histogram_ too
    std::uint64_t interval_end_ns_ = 0;  // when it closes
    std::optional<TimelineInterval> spare_interval_;  // the next one, made ahead by the tick

    std::uint64_t sent_bytes_ = 0;  // whole run, warm-up and drain included; read after join()

    // Published for the controller.
    std::atomic<std::uint32_t> established_{0};
    std::atomic<std::uint32_t> settled_{0};
    std::atomic<std::uint32_t> open_{0};
    std::atomic<std::uint32_t> live_{0};
    std::atomic<std::uint64_t> echoed_{0};
    std::atomic<std::uint64_t> measured_{0};
    std::mutex snapshot_mutex_;  // guards snapshot_ only; never taken per message
    Histogram snapshot_;
    std::mutex timeline_mutex_;                       // guards closed_intervals_; taken once a second
    std::vector<TimelineInterval> closed_intervals_;  // for the controller's next take_intervals
};

}  // namespace echobench
