// The daemon on one uv_loop_t: puts the listeners, the connections, the
// idle sweep and the metrics together, and runs the lifecycle:
// starting -> serving -> (signal) draining -> stopping.
#pragma once

#include "common/parse.h"
#include "common/rate_limit.h"
#include "echod/connection.h"
#include "echod/connection_list.h"
#include "echod/fault_clock.h"
#include "echod/listeners.h"
#include "echod/metrics.h"
#include "echod/metrics_http.h"
#include "echod/options.h"
#include "echod/reload.h"
#include "echod/ring_pool.h"
#include "echod/stats.h"

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>

namespace echod {

class Server {
public:
    // source: what SIGHUP reads again (the config's origin; config itself
    // may carry a --workers worker's adjustments).
    Server(uv_loop_t* loop, const Config& config, ConfigSource& source);
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Listens, serves until a signal, drains; returns the exit status:
    // 0 after a clean drain, 1 on a start-up failure or a second signal.
    int run();

private:
    enum class State { starting, serving, draining, stopping };

    static void on_connection(void* data, int fd, bool tcp, int error);  // Listeners' AcceptCallback
    static void on_signal(uv_signal_t* handle, int signum);
    static void on_drain_timeout(uv_timer_t* timer);
    static void on_idle_check(uv_timer_t* timer);

    // The steps of run().
    void init_handles();
    void handle_signals();
    int fail_start();
    void notify_ready();
    void start_idle_sweep();
    void log_summary();
    void reload();                                // SIGHUP
    void apply_live_options(const Config& next);  // the one place a reload changes the running config

    void refuse(int fd);
    void begin_drain(int signum);
    void close_connections();
    void stop_if_drained();
    void close_own_handles();
    Stats snapshot() const;  // the counters plus the gauges, now

    uv_loop_t* loop_;
    ConfigSource& source_;
    Config config_;  // Metrics and Listeners hold a reference: changed only by apply_live_options
    State state_ = State::starting;
    int exit_status_ = 0;
    uv_signal_t sigint_{};
    uv_signal_t sigterm_{};
    uv_signal_t sigusr1_{};              // a stats line
    uv_signal_t sighup_{};               // reload the --config file
    uv_timer_t drain_timer_{};           // bounds the drain after the first signal
    uv_timer_t idle_timer_{};            // one sweep timer for every connection's idle timeout
    common::RateLimit accept_warnings_;  // out of descriptors, at most once a second
    common::RateLimit refuse_warnings_;  // over --max-connections, at most once a second
    // Input read and dropped during a drain, and UDP datagrams on their way
    // back: both are used up within one callback, so they can share.
    std::array<char, 64 * common::KiB> scratch_{};
    std::unique_ptr<FaultContext> faults_;  // --fault; nullptr without
    std::unique_ptr<ProxyContext> proxy_;   // --proxy-protocol; nullptr without
    // The rings, the counters (gauges are filled in by snapshot()) and the
    // live connections (most recently active first with --idle-timeout):
    // what connections see of the server.
    ConnectionContext context_;
    Listeners listeners_;
    Metrics metrics_;
    std::unique_ptr<MetricsHttp> metrics_http_;  // --metrics-listen; nullptr without
};

}  // namespace echod
