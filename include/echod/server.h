// The daemon: owns the listening sockets, the signal handlers, the timers,
// the ring pool and every live connection, all on one uv_loop_t.
#pragma once

#include "common/parse.h"
#include "echod/connection.h"
#include "echod/connection_list.h"
#include "echod/options.h"
#include "echod/ring_pool.h"
#include "echod/stats.h"

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace echod {

class Server {
public:
    Server(uv_loop_t* loop, const Config& config);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Listens, serves until a signal, drains; returns the exit status:
    // 0 after a clean drain, 1 on a start-up failure or a second signal.
    int run();

private:
    enum class State { starting, serving, draining, stopping };

    // One listening socket; the Server owns it and outlives the loop's run.
    struct Listener {
        uv_tcp_t tcp{};  // first: libuv hands this back to on_connection
        Server* server = nullptr;
    };
    // One UDP echo socket (--udp), beside the listener on the same address.
    struct UdpEcho {
        uv_udp_t udp{};
    };

    static void on_connection(uv_stream_t* listener, int status);
    static void on_signal(uv_signal_t* handle, int signum);
    static void on_drain_timeout(uv_timer_t* timer);
    static void on_idle_check(uv_timer_t* timer);
    static void on_stats_tick(uv_timer_t* timer);
    static void on_udp_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_udp_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags);

    // Returns the port bound (the kernel's pick for --port 0), or -1.
    int start_listening(const std::string& address);
    // Socket activation: listens on an inherited socket; returns its port or -1.
    int adopt_listener(int fd, std::string& address);
    // uv_listen on an opened listener and the ready line; returns the port or -1.
    int listen_and_announce(uv_tcp_t* tcp, const std::string& wanted, const char* how);
    bool start_udp(const std::string& address, std::uint16_t port);
    void refuse(uv_stream_t* listener);
    void begin_drain(int signum);
    void close_connections();
    void stop_if_drained();
    void close_listeners();
    void close_own_handles();
    Stats snapshot() const;            // the counters plus the gauges, now
    void report_stats(bool log_line);  // a stats line and/or the metrics file

    uv_loop_t* loop_;
    Config config_;
    State state_ = State::starting;
    int exit_status_ = 0;
    std::vector<std::unique_ptr<Listener>> listeners_;  // one per --listen
    std::vector<std::unique_ptr<UdpEcho>> udp_;         // one per --listen with --udp
    uv_signal_t sigint_{};
    uv_signal_t sigterm_{};
    uv_signal_t sigusr1_{};     // logs a stats line
    uv_timer_t drain_timer_{};  // bounds the drain after the first signal
    uv_timer_t idle_timer_{};   // one sweep timer for every connection's idle timeout
    uv_timer_t stats_timer_{};  // --stats-interval / --metrics-file
    RingPool rings_;
    ConnectionList connections_;  // live connections, most recently active first with --idle-timeout
    Stats stats_;                 // counters; gauges are filled in by snapshot()
    Stats last_reported_;         // for the rates of the periodic line
    std::uint64_t last_reported_ms_ = 0;
    std::uint64_t last_accept_warning_ms_ = 0;  // rate-limits the out-of-fd warning
    std::uint64_t last_refuse_warning_ms_ = 0;  // rate-limits the over-the-limit warning
    // Input read and dropped during a drain, and UDP datagrams on their way
    // back: both are used up within one callback, so they can share.
    std::array<char, 64 * common::KiB> scratch_{};
    ConnectionContext context_;  // what connections see of all this
};

}  // namespace echod
