#include "echobench/load/worker.h"

#include "common/parse.h"
#include "common/uv_owner.h"
#include "echobench/load/client.h"

#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace echobench {
namespace {

constexpr std::size_t read_buffer_size = 256 * common::KiB;
constexpr std::uint64_t tick_ms = 10;
constexpr std::uint64_t ms = 1000000;  // in ns
// Connects in flight per worker: a burst of SYNs beyond the server's backlog
// would only turn into retransmits and skewed connect times.
constexpr std::uint32_t max_pending_connects = 256;
// After the window, how long in-flight messages get to come back before the
// connections are closed regardless.
constexpr std::uint64_t drain_grace_ns = 1000 * ms;

}  // namespace

Worker::Worker(const BenchConfig& config, const Pattern& pattern, const sockaddr_storage& target, RunControl& control,
               std::uint64_t first_client_id, std::uint32_t client_count)
    : config_(config),
      target_(target),
      control_(control),
      first_client_id_(first_client_id),
      client_count_(client_count),
      counters_(control, config.messages),
      read_buffer_(read_buffer_size) {
    context_.loop = &loop_;
    context_.local = target.ss_family == AF_UNIX;
    context_.config = &config_;
    context_.pattern = &pattern;
    context_.read_buffer =
        uv_buf_init(reinterpret_cast<char*>(read_buffer_.data()), static_cast<unsigned>(read_buffer_.size()));
    context_.counters = &counters_;
    context_.clients = client_count;
    context_.client_closed = on_client_closed;
    context_.owner = this;
}

Worker::~Worker() {
    join();
    if (loop_ready_ && !thread_started_) {
        // Set up but never run (a later worker failed to set up): close what
        // init() opened here, so that nothing leaks and no one has to exit().
        draining_ = true;
        for (auto& client : clients_) {
            client->close();
        }
        maybe_finish();
        uv_run(&loop_, UV_RUN_DEFAULT);
        uv_loop_close(&loop_);
    }
}

int Worker::init() {
    if (int err = uv_loop_init(&loop_); err != 0) {
        return err;
    }
    loop_ready_ = true;
    uv_async_init(&loop_, &wake_, on_wake);
    uv_timer_init(&loop_, &tick_);
    wake_.data = this;
    tick_.data = this;
    handles_open_ = 2;
    if (context_.open_loop()) {
        // uv_timer has millisecond resolution; a schedule at 100k msgs/s needs
        // microseconds, or every message would start late by up to a tick.
        schedule_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (schedule_fd_ < 0) {
            return -errno;
        }
        if (int err = uv_poll_init(&loop_, &schedule_poll_, schedule_fd_); err != 0) {
            return err;
        }
        schedule_poll_.data = this;
        schedule_poll_open_ = true;
        ++handles_open_;
        double share = config_.rate * client_count_ / config_.connections;
        context_.interval_ns = 1e9 / share;
    }
    clients_.reserve(client_count_);
    for (std::uint32_t i = 0; i < client_count_; ++i) {
        clients_.push_back(std::make_unique<Client>(context_, first_client_id_ + i, i));
    }
    return 0;
}

void Worker::start() {
    thread_started_ = true;
    thread_ = std::thread([this] { run(); });
}

void Worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Worker::wake() {
    // uv_async_send on a closed handle is undefined: the worker closes it
    // under the same mutex.
    std::lock_guard lock(wake_mutex_);
    if (!wake_closed_) {
        uv_async_send(&wake_);
    }
}

void Worker::run() {
    if (context_.open_loop()) {
        // The kernel may delay a timer by the thread's slack (50 us by
        // default) to batch wakeups; that would show up as latency.
        prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    }
    start_ns_ = uv_hrtime();
    counters_.start(start_ns_);
    uv_timer_start(&tick_, on_tick, 0, tick_ms);
    handle_phase();  // the phase may have moved before the thread ran
    uv_run(&loop_, UV_RUN_DEFAULT);
    loop_close_status_ = uv_loop_close(&loop_);
    counters_.finish(uv_hrtime());
    finished_.store(true, std::memory_order_release);
}

void Worker::on_wake(uv_async_t* handle) {
    common::owner_of<Worker>(handle)->handle_phase();
}

void Worker::handle_phase() {
    const Phase phase = control_.phase.load(std::memory_order_acquire);
    if (phase >= Phase::draining) {
        if (!draining_) {
            draining_ = true;
            counters_.begin_drain();
            drain_deadline_ns_ = uv_hrtime() + drain_grace_ns;
            if (schedule_fd_ >= 0) {
                uv_poll_stop(&schedule_poll_);
            }
            for (auto& client : clients_) {
                client->drain();
            }
        }
        if (phase == Phase::aborting) {
            for (auto& client : clients_) {
                client->close();
            }
        }
        maybe_finish();
        return;
    }
    if (phase >= Phase::warmup && !context_.traffic_started) {
        context_.traffic_started = true;
        if (context_.open_loop()) {
            context_.schedule_start_ns = control_.traffic_start_ns.load(std::memory_order_relaxed);
            uv_poll_start(&schedule_poll_, UV_READABLE, on_schedule);
            handle_schedule();
        }
        for (auto& client : clients_) {
            client->start_traffic();
        }
    }
}

void Worker::on_tick(uv_timer_t* handle) {
    common::owner_of<Worker>(handle)->handle_tick();
}

void Worker::handle_tick() {
    const std::uint64_t now = uv_hrtime();
    counters_.prepare(now);
    if (!draining_ && next_connect_ < clients_.size()) {
        // A steady rate, not a burst: this worker's share of --connect-rate.
        double per_ns = config_.connect_rate * client_count_ / config_.connections / 1e9;
        auto allowed = static_cast<std::uint64_t>(static_cast<double>(now - start_ns_) * per_ns) + 1;
        while (next_connect_ < clients_.size() && next_connect_ < allowed &&
               counters_.connecting() < max_pending_connects) {
            clients_[next_connect_++]->connect(reinterpret_cast<const sockaddr*>(&target_));
        }
    }
    // Timeouts are coarse (every 100 ms): checking every client each tick
    // would cost more than it could tell.
    if (++ticks_ % 10 == 0) {
        for (auto& client : clients_) {
            client->check_timeout(now);
        }
    }
    if (draining_ && now >= drain_deadline_ns_) {
        for (auto& client : clients_) {
            client->close();
        }
    }
}

void Worker::on_schedule(uv_poll_t* handle, int, int) {
    Worker* self = common::owner_of<Worker>(handle);
    std::uint64_t expirations = 0;
    // Clears the readiness; how many expirations does not matter, the clock does.
    if (read(self->schedule_fd_, &expirations, sizeof expirations) < 0 && errno != EAGAIN) {
        return;
    }
    self->handle_schedule();
}

void Worker::handle_schedule() {
    if (draining_) {
        return;
    }
    const std::uint64_t now = uv_hrtime();
    const std::uint64_t n = clients_.size();
    if (now >= context_.schedule_start_ns && n > 0) {
        // Messages k < due are due: k goes to clients_[k % n] as its (k / n)th.
        auto due =
            static_cast<std::uint64_t>(static_cast<double>(now - context_.schedule_start_ns) / context_.interval_ns) +
            1;
        if (due > next_due_) {
            if (due - next_due_ >= n) {
                for (std::uint64_t i = 0; i < n; ++i) {
                    clients_[i]->set_due(due / n + (i < due % n ? 1 : 0));
                }
            } else {
                for (std::uint64_t k = next_due_; k < due; ++k) {
                    clients_[k % n]->set_due(k / n + 1);
                }
            }
            next_due_ = due;
        }
    }
    arm_schedule(context_.schedule_start_ns +
                 static_cast<std::uint64_t>(static_cast<double>(next_due_) * context_.interval_ns));
}

void Worker::arm_schedule(std::uint64_t at_ns) {
    itimerspec spec{};
    at_ns = std::max<std::uint64_t>(at_ns, 1);  // zero would disarm it
    spec.it_value.tv_sec = static_cast<time_t>(at_ns / 1000000000);
    spec.it_value.tv_nsec = static_cast<long>(at_ns % 1000000000);
    // uv_hrtime() is CLOCK_MONOTONIC too, so an absolute time works as is.
    timerfd_settime(schedule_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void Worker::on_client_closed(void* worker) {
    auto* self = static_cast<Worker*>(worker);
    ++self->closed_;
    self->maybe_finish();
}

void Worker::maybe_finish() {
    if (!draining_ || closing_handles_ || closed_ < clients_.size()) {
        return;
    }
    closing_handles_ = true;
    {
        std::lock_guard lock(wake_mutex_);
        wake_closed_ = true;
        uv_close(reinterpret_cast<uv_handle_t*>(&wake_), on_close);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), on_close);
    if (schedule_poll_open_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&schedule_poll_), on_close);
    }
}

void Worker::on_close(uv_handle_t* handle) {
    Worker* self = common::owner_of<Worker>(handle);
    if (--self->handles_open_ == 0 && self->schedule_fd_ >= 0) {
        // Only now: the fd must outlive the poll handle watching it.
        ::close(self->schedule_fd_);
        self->schedule_fd_ = -1;
    }
}

}  // namespace echobench
