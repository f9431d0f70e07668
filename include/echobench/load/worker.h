// One worker of echobench's load run: a thread with its own uv loop and a
// share of the connections (its Clients), moved through the phases by the
// controller (controller.h) through RunControl.
//
// The hot path takes no lock: each worker counts into its own histogram and
// counters, publishes a few totals through relaxed atomics for the
// controller's progress and -n checks, and copies its histogram under a
// mutex a few times a second for the progress line only. The window is a pair
// of timestamps set by the controller; a message counts when its echo
// completes inside it, on whichever thread (with -n: when it was claimed,
// see client.h). Each second a worker also hands its timeline interval
// (results/timeline.h) to the controller, under another mutex: once a
// second, never per message.
#pragma once

#include "echobench/load/pattern.h"
#include "echobench/load/run_control.h"
#include "echobench/options.h"
#include "echobench/results/histogram.h"
#include "echobench/results/result.h"
#include "echobench/results/timeline.h"

#include <netinet/in.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace echobench {

class Client;

class Worker {
public:
    Worker(const BenchConfig& config, const Pattern& pattern, const sockaddr_storage& target, RunControl& control,
           std::uint64_t first_client_id, std::uint32_t client_count);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Sets up the loop and handles; a uv error code, or 0. Whatever it set
    // up, the destructor closes if the thread never ran.
    int init();
    void start();  // runs the loop on a new thread
    void wake();   // any thread: the phase changed
    void join();

    // Read by the controller while the worker runs.
    std::uint32_t established() const { return established_.load(std::memory_order_relaxed); }
    std::uint32_t settled() const { return settled_.load(std::memory_order_relaxed); }  // connected or failed
    std::uint32_t open_clients() const { return open_.load(std::memory_order_relaxed); }
    std::uint64_t echoed() const { return echoed_.load(std::memory_order_relaxed); }  // all, warm-up included
    std::uint64_t measured() const { return measured_.load(std::memory_order_relaxed); }
    bool finished() const { return finished_.load(std::memory_order_acquire); }
    void merge_snapshot_into(Histogram& out);  // the window's histogram, a moment ago
    // Moves the timeline intervals closed since the last call into out.
    void take_intervals(std::vector<TimelineInterval>& out);

    // After join().
    const Histogram& histogram() const { return histogram_; }
    const BenchErrors& errors() const { return errors_; }
    int loop_close_status() const { return loop_close_status_; }

    // For the clients, on the worker's thread.
    uv_loop_t* loop() { return &loop_; }
    const BenchConfig& config() const { return config_; }
    const Pattern& pattern() const { return pattern_; }
    uv_buf_t read_buffer();
    bool traffic_started() const { return traffic_started_; }
    bool open_loop() const { return config_.rate > 0; }
    std::uint64_t scheduled_ns(std::uint32_t index, std::uint64_t seq) const;
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
    void count_connected();
    void count_connect_failed(const std::string& reason);
    void count_broken(const std::string& reason);
    void count_mismatch(const std::string& reason);
    void count_timeout(const std::string& reason);
    void count_closed(bool was_open);  // close() began
    void client_closed();              // its close callback ran

private:
    static void on_wake(uv_async_t* handle);
    static void on_tick(uv_timer_t* handle);
    static void on_schedule(uv_poll_t* handle, int status, int events);
    static void on_close(uv_handle_t* handle);

    void run();
    void handle_phase();
    void handle_tick();
    void handle_schedule();
    void arm_schedule(std::uint64_t at_ns);
    void maybe_finish();
    void roll_timeline(std::uint64_t now_ns);  // closes the intervals that ended by now_ns
    void close_interval();                     // hands interval_ over, starts the next

    uv_loop_t loop_{};
    uv_async_t wake_{};          // the controller changed the phase
    uv_timer_t tick_{};          // connect pacing, timeouts, progress snapshots
    uv_poll_t schedule_poll_{};  // open loop: a timerfd, for sub-millisecond send times
    int schedule_fd_ = -1;
    bool loop_ready_ = false;          // loop_, wake_ and tick_ are initialised
    bool schedule_poll_open_ = false;  // schedule_poll_ is initialised
    bool thread_started_ = false;

    const BenchConfig& config_;
    const Pattern& pattern_;
    sockaddr_storage target_;
    RunControl& control_;
    std::uint64_t first_client_id_ = 0;  // clients get ids first.. first + count - 1
    std::uint32_t client_count_ = 0;
    std::vector<std::unique_ptr<Client>> clients_;
    std::vector<std::byte> read_buffer_;  // shared: a read is consumed before the next alloc
    std::thread thread_;
    int handles_open_ = 0;   // our own handles not yet closed
    std::mutex wake_mutex_;  // wake() against closing wake_
    bool wake_closed_ = false;
    std::uint64_t ticks_ = 0;

    // Phase as this worker has acted on it.
    bool traffic_started_ = false;
    bool draining_ = false;
    bool closing_handles_ = false;
    std::uint64_t start_ns_ = 0;      // loop start: connect pacing counts from here
    std::uint32_t next_connect_ = 0;  // clients_[next_connect_] connects next
    std::uint32_t connecting_ = 0;    // connects in flight
    std::uint64_t drain_deadline_ns_ = 0;
    std::uint32_t open_at_drain_ = 0;  // open connections when draining began
    std::uint64_t last_snapshot_ns_ = 0;
    std::uint32_t closed_ = 0;  // clients closed

    // Open loop: the worker's share of the rate, message k of the worker
    // going to clients_[k % n] at traffic_start + k * interval.
    double interval_ns_ = 0;
    std::uint64_t schedule_start_ns_ = 0;
    std::uint64_t next_due_ = 0;  // messages scheduled so far (k)

    // Results, owned by the worker's thread until join().
    Histogram histogram_;  // the window's latencies, up to the last closed second
    BenchErrors errors_;
    std::uint64_t measured_local_ = 0;
    std::uint64_t echoed_local_ = 0;
    int loop_close_status_ = 0;
    TimelineInterval interval_;          // the second being counted; latency: its echoes outside the window
    Histogram interval_window_latency_;  // its echoes inside the window, for histogram_ too
    std::uint64_t interval_end_ns_ = 0;  // when it closes
    std::optional<TimelineInterval> spare_interval_;  // the next one, made ahead by the tick

    // Published for the controller.
    std::atomic<std::uint32_t> established_{0};
    std::atomic<std::uint32_t> settled_{0};
    std::atomic<std::uint32_t> open_{0};
    std::atomic<std::uint64_t> echoed_{0};
    std::atomic<std::uint64_t> measured_{0};
    std::atomic<bool> finished_{false};
    std::mutex snapshot_mutex_;  // guards snapshot_ only; never taken per message
    Histogram snapshot_;
    std::mutex timeline_mutex_;                       // guards closed_intervals_; taken once a second
    std::vector<TimelineInterval> closed_intervals_;  // for the controller's next take_intervals
};

}  // namespace echobench
