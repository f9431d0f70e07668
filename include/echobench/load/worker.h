// One worker of echobench's load run: a thread with its own uv loop and a
// share of the connections (its Clients), moved through the phases by the
// controller (controller.h) through RunControl. It paces the connects, runs
// the open-loop schedule, and closes its clients when the run drains; what
// they count goes to its LoadCounters (counters.h).
//
// Its clients see it only through a ClientContext (client.h) that it owns:
// the loop, the configuration, the shared read buffer, the counters.
#pragma once

#include "echobench/load/client.h"
#include "echobench/load/counters.h"
#include "echobench/load/pattern.h"
#include "echobench/load/run_control.h"
#include "echobench/options.h"

#include <netinet/in.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace echobench {

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

    // The controller: the published totals while the worker runs, the rest
    // after join().
    LoadCounters& counters() { return counters_; }
    const LoadCounters& counters() const { return counters_; }
    bool finished() const { return finished_.load(std::memory_order_acquire); }
    int loop_close_status() const { return loop_close_status_; }

private:
    static void on_wake(uv_async_t* handle);
    static void on_tick(uv_timer_t* handle);
    static void on_schedule(uv_poll_t* handle, int status, int events);
    static void on_close(uv_handle_t* handle);
    static void on_client_closed(void* worker);

    void run();
    void handle_phase();
    void handle_tick();
    void handle_schedule();
    void arm_schedule(std::uint64_t at_ns);
    void maybe_finish();

    uv_loop_t loop_{};
    uv_async_t wake_{};          // the controller changed the phase
    uv_timer_t tick_{};          // connect pacing, timeouts, progress snapshots
    uv_poll_t schedule_poll_{};  // open loop: a timerfd, for sub-millisecond send times
    int schedule_fd_ = -1;
    bool loop_ready_ = false;          // loop_, wake_ and tick_ are initialised
    bool schedule_poll_open_ = false;  // schedule_poll_ is initialised
    bool thread_started_ = false;

    const BenchConfig& config_;
    sockaddr_storage target_;
    RunControl& control_;
    std::uint64_t first_client_id_ = 0;  // clients get ids first.. first + count - 1
    std::uint32_t client_count_ = 0;
    LoadCounters counters_;               // what the clients count
    std::vector<std::byte> read_buffer_;  // shared: a read is consumed before the next alloc
    ClientContext context_;               // what the clients see of this worker
    std::vector<std::unique_ptr<Client>> clients_;
    std::thread thread_;
    int handles_open_ = 0;   // our own handles not yet closed
    std::mutex wake_mutex_;  // wake() against closing wake_
    bool wake_closed_ = false;
    std::uint64_t ticks_ = 0;

    // Phase as this worker has acted on it (traffic started: context_).
    bool draining_ = false;
    bool closing_handles_ = false;
    std::uint64_t start_ns_ = 0;      // loop start: connect pacing counts from here
    std::uint32_t next_connect_ = 0;  // clients_[next_connect_] connects next
    std::uint64_t drain_deadline_ns_ = 0;
    std::uint32_t closed_ = 0;  // clients closed

    std::uint64_t next_due_ = 0;  // open loop: messages scheduled so far (k, see ClientContext)
    int loop_close_status_ = 0;
    std::atomic<bool> finished_{false};
};

}  // namespace echobench
