#include "echobench/load/controller.h"

#include "common/address.h"
#include "common/uv_owner.h"
#include "echobench/load/worker.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <ctime>

namespace echobench {
namespace {

constexpr std::uint64_t tick_ms = 10;
constexpr std::uint64_t ms = 1000000;  // in ns

std::uint64_t to_ns(double seconds) {
    return static_cast<std::uint64_t>(seconds * 1e9);
}

// "2026-11-30T01:27:32Z": when the run started, for the report.
std::string utc_now_iso8601() {
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

// The main thread's loop: phases, -n, Ctrl-C, the progress line.
class Controller {
public:
    Controller(const BenchConfig& config, RunControl& control, std::vector<std::unique_ptr<Worker>>& workers)
        : config_(config), control_(control), workers_(workers), timeline_(workers.size()) {}

    int run(BenchResult& result);

private:
    static void on_tick(uv_timer_t* handle) { common::owner_of<Controller>(handle)->handle_tick(); }
    static void on_signal(uv_signal_t* handle, int) { common::owner_of<Controller>(handle)->handle_signal(); }
    static void on_close(uv_handle_t*) {}

    void handle_tick();
    void handle_signal();
    void set_phase(Phase phase);
    void end_window(std::uint64_t now);
    void show_progress(std::uint64_t now, bool last);
    void collect_timeline();
    void fill_timeline(BenchResult& result, std::uint64_t end_ns);

    template <typename F>
    std::uint64_t sum(F f) const {
        std::uint64_t total = 0;
        for (const auto& w : workers_) {
            total += f(*w);
        }
        return total;
    }

    uv_loop_t loop_{};
    uv_timer_t tick_{};
    uv_signal_t sigint_{};
    uv_signal_t sigterm_{};
    const BenchConfig& config_;
    RunControl& control_;
    std::vector<std::unique_ptr<Worker>>& workers_;
    Phase phase_ = Phase::connecting;
    bool interrupted_ = false;
    bool closing_ = false;
    std::uint64_t traffic_start_ns_ = 0;
    std::uint64_t window_start_ns_ = UINT64_MAX;
    std::uint64_t window_end_ns_ = UINT64_MAX;
    // Progress line (stderr is a terminal).
    bool progress_ = false;
    std::uint64_t started_ns_ = 0;
    std::uint64_t last_progress_ns_ = 0;
    std::uint64_t last_echoed_ = 0;
    // The workers' seconds, added up as they come in.
    TimelineMerger timeline_;
    std::vector<TimelineInterval> intervals_;  // reused by collect_timeline
};

int Controller::run(BenchResult& result) {
    if (int err = uv_loop_init(&loop_); err != 0) {
        fmt::print(stderr, "echobench: uv_loop_init: {}\n", uv_strerror(err));
        return 1;
    }
    uv_timer_init(&loop_, &tick_);
    uv_signal_init(&loop_, &sigint_);
    uv_signal_init(&loop_, &sigterm_);
    tick_.data = this;
    sigint_.data = this;
    sigterm_.data = this;
    uv_signal_start(&sigint_, on_signal, SIGINT);
    uv_signal_start(&sigterm_, on_signal, SIGTERM);
    progress_ = isatty(STDERR_FILENO) == 1;
    started_ns_ = last_progress_ns_ = uv_hrtime();
    control_.run_start_ns = started_ns_;
    result.started_at = utc_now_iso8601();
    // -n is checked here: a tick of 1 ms keeps duration_s that precise.
    uv_timer_start(&tick_, on_tick, 1, config_.messages > 0 ? 1 : tick_ms);
    for (auto& w : workers_) {
        w->start();
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (progress_) {
        fmt::print(stderr, "\r\033[K");
    }
    for (auto& w : workers_) {
        w->join();
    }
    int status = 0;
    if (int err = uv_loop_close(&loop_); err != 0) {
        fmt::print(stderr, "echobench: uv_loop_close: {} (a handle was left open)\n", uv_strerror(err));
        status = 1;
    }
    for (auto& w : workers_) {
        if (w->loop_close_status() != 0) {
            fmt::print(stderr, "echobench: worker uv_loop_close: {} (a handle was left open)\n",
                       uv_strerror(w->loop_close_status()));
            status = 1;
        }
        result.latency.merge(w->counters().histogram());
        result.errors.merge(w->counters().errors());
        result.messages += w->counters().measured();
        result.established += w->counters().established();
        *result.sent_bytes += w->counters().sent_bytes();
        result.connects += w->counters().connects();
        result.connect_latency.merge(w->counters().connect_latency());
    }
    if (window_start_ns_ != UINT64_MAX && window_end_ns_ != UINT64_MAX && window_end_ns_ > window_start_ns_) {
        result.duration_s = static_cast<double>(window_end_ns_ - window_start_ns_) / 1e9;
    }
    result.interrupted = interrupted_;
    fill_timeline(result, uv_hrtime());
    return status;
}

void Controller::collect_timeline() {
    for (auto& w : workers_) {
        w->counters().take_intervals(intervals_);
    }
    for (const TimelineInterval& interval : intervals_) {
        timeline_.add(interval);
    }
    intervals_.clear();
}

void Controller::fill_timeline(BenchResult& result, std::uint64_t end_ns) {
    collect_timeline();  // the workers have stopped: their last intervals are in
    auto seconds = [this, end_ns](std::uint64_t at_ns) {
        // A phase that never came (nothing connected) is put at the end.
        return static_cast<double>(std::min(at_ns, end_ns) - started_ns_) / 1e9;
    };
    result.warmup_start_s = seconds(traffic_start_ns_ == 0 ? UINT64_MAX : traffic_start_ns_);
    result.window_start_s = seconds(window_start_ns_);
    result.window_end_s = seconds(window_end_ns_);
    result.timeline = timeline_.finish(result.window_end_s);
}

void Controller::set_phase(Phase phase) {
    phase_ = phase;
    control_.phase.store(phase, std::memory_order_release);
    for (auto& w : workers_) {
        w->wake();
    }
}

void Controller::end_window(std::uint64_t now) {
    if (window_start_ns_ == UINT64_MAX || now < window_start_ns_) {
        window_start_ns_ = now;  // the window never opened: it is empty
    }
    window_end_ns_ = std::min(window_end_ns_, now);
    control_.window_start_ns.store(window_start_ns_, std::memory_order_relaxed);
    control_.window_end_ns.store(window_end_ns_, std::memory_order_relaxed);
}

void Controller::handle_tick() {
    const std::uint64_t now = uv_hrtime();
    collect_timeline();
    switch (phase_) {
        case Phase::connecting:
            if (sum([](const Worker& w) { return w.counters().settled(); }) < config_.connections) {
                break;
            }
            if (sum([](const Worker& w) { return w.counters().established(); }) == 0) {
                end_window(now);
                set_phase(Phase::draining);
                break;
            }
            traffic_start_ns_ = now;
            window_start_ns_ = now + to_ns(config_.warmup_s);
            window_end_ns_ = config_.messages > 0 ? UINT64_MAX : window_start_ns_ + to_ns(config_.duration_s);
            control_.traffic_start_ns.store(traffic_start_ns_, std::memory_order_relaxed);
            control_.window_start_ns.store(window_start_ns_, std::memory_order_relaxed);
            control_.window_end_ns.store(window_end_ns_, std::memory_order_relaxed);
            set_phase(Phase::warmup);
            break;
        case Phase::warmup:
        case Phase::measuring:
            if (phase_ == Phase::warmup && now >= window_start_ns_) {
                phase_ = Phase::measuring;  // only the progress line cares
            }
            // Every connection broke (nothing more to measure), or -n is reached.
            if (sum([](const Worker& w) { return w.counters().live_places(); }) == 0 ||
                (config_.messages > 0 && now >= window_start_ns_ &&
                 sum([](const Worker& w) { return w.counters().measured(); }) >= config_.messages)) {
                end_window(now);
                set_phase(Phase::draining);
            } else if (now >= window_end_ns_) {
                set_phase(Phase::draining);
            }
            break;
        case Phase::draining:
        case Phase::aborting:
            if (!closing_ && std::all_of(workers_.begin(), workers_.end(), [](auto& w) { return w->finished(); })) {
                closing_ = true;
                uv_close(reinterpret_cast<uv_handle_t*>(&tick_), on_close);
                uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), on_close);
                uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), on_close);
                return;
            }
            break;
    }
    if (progress_ && now - last_progress_ns_ >= 1000 * ms) {
        show_progress(now, false);
    }
}

void Controller::handle_signal() {
    const std::uint64_t now = uv_hrtime();
    if (phase_ < Phase::draining) {
        interrupted_ = true;
        end_window(now);
        set_phase(Phase::draining);
    } else if (phase_ == Phase::draining) {
        set_phase(Phase::aborting);  // a second Ctrl-C: do not wait for echoes
    }
}

void Controller::show_progress(std::uint64_t now, bool) {
    std::uint64_t echoed = sum([](const Worker& w) { return w.counters().echoed(); });
    double rate = static_cast<double>(echoed - last_echoed_) / (static_cast<double>(now - last_progress_ns_) / 1e9);
    last_echoed_ = echoed;
    last_progress_ns_ = now;
    const char* what = phase_ == Phase::connecting  ? "connecting"
                       : phase_ == Phase::warmup    ? "warm-up"
                       : phase_ == Phase::measuring ? "measuring"
                                                    : "draining";
    std::string p99 = "-";
    if (phase_ == Phase::measuring) {
        Histogram merged;
        for (auto& w : workers_) {
            w->counters().merge_snapshot_into(merged);
        }
        if (merged.count() > 0) {
            p99 = format_latency(merged.percentile(99));
        }
    }
    fmt::print(stderr, "\r{:7.1f}s  {:<10}  {:>7} conns  {:>12.0f} msgs/s  p99 {}\033[K",
               static_cast<double>(now - started_ns_) / 1e9, what,
               sum([](const Worker& w) { return w.counters().open_clients(); }), rate, p99);
    std::fflush(stderr);
}

}  // namespace

int run_load(const BenchConfig& config, BenchResult& result) {
    sockaddr_storage target{};
    if (!common::make_address(config.host, config.port, target)) {
        // The option parser takes literals only: this is a bug if it shows.
        fmt::print(stderr, "echobench: {}: not an IP address or Unix socket path\n",
                   common::format_address(config.host, config.port));
        return 1;
    }
    const std::uint32_t threads = std::min(config.threads, config.connections);

    const Pattern pattern(config.size);
    RunControl control;
    std::vector<std::unique_ptr<Worker>> workers;
    std::uint64_t next_id = 0;
    for (std::uint32_t t = 0; t < threads; ++t) {
        std::uint32_t count = config.connections / threads + (t < config.connections % threads ? 1 : 0);
        workers.push_back(std::make_unique<Worker>(config, pattern, target, control, next_id, count));
        next_id += count;
        if (int err = workers.back()->init(); err != 0) {
            // Before any thread or socket, and no result (no target): main
            // only exits. The workers set up so far close what they opened.
            fmt::print(stderr, "echobench: setting up worker {}: {}\n", t, uv_strerror(err));
            return 1;
        }
    }
    // From here on a run takes place: the result has a target (main reports it).
    result.target = common::format_address(config.host, config.port);
    result.connections = config.connections;
    result.threads = threads;
    result.size = config.size;
    result.pipeline = config.pipeline;
    result.rate = config.rate;
    result.warmup_s = config.warmup_s;
    result.verify = config.verify;
    result.messages_per_connection = config.messages_per_connection;
    Controller controller(config, control, workers);
    return controller.run(result);
}

}  // namespace echobench
