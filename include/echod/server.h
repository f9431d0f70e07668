// The daemon: owns the listening socket, the signal handlers, the ring pool
// and every live connection, all on one uv_loop_t.
#pragma once

#include "echod/options.h"
#include "echod/parse.h"
#include "echod/ring_pool.h"

#include <uv.h>

#include <array>
#include <cstdint>

namespace echod {

class Connection;

// What the summary line and the debug log report.
struct ServerCounters {
    std::uint64_t accepted = 0;         // connections accepted and served
    std::uint64_t closed = 0;           // connections closed
    std::uint64_t bytes_echoed = 0;     // by connections already closed
    std::uint64_t accept_errors = 0;    // failed accepts (out of fds, ...)
    std::uint64_t refused = 0;          // over --max-connections: accepted and closed
    std::uint64_t closed_idle = 0;      // closed by --idle-timeout
    std::uint64_t drain_cut_short = 0;  // connections still open at the drain deadline
};

class Server {
public:
    Server(uv_loop_t* loop, const Config& config);
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Listens, serves until a signal, drains; returns the exit status:
    // 0 after a clean drain, 1 on a start-up failure or a second signal.
    int run();

    // For connections.
    uv_loop_t* loop() { return loop_; }
    RingPool& rings() { return rings_; }
    uv_buf_t discard_buffer() { return uv_buf_init(discard_.data(), discard_.size()); }
    void add(Connection* connection);
    void remove(Connection* connection);  // from its close callback
    // The connection moved a byte: it is the most recently active now.
    void touch(Connection* connection) {
        if (idle_timeout_ms_ != 0) {
            mark_active(connection);
        }
    }

private:
    enum class State { starting, serving, draining, stopping };

    static void on_connection(uv_stream_t* listener, int status);
    static void on_signal(uv_signal_t* handle, int signum);
    static void on_drain_timeout(uv_timer_t* timer);
    static void on_idle_check(uv_timer_t* timer);

    bool start_listening();
    void refuse(uv_stream_t* listener);
    void mark_active(Connection* connection);
    void link_front(Connection* connection);
    void unlink(Connection* connection);
    void begin_drain(int signum);
    void close_connections();
    void stop_if_drained();
    void close_own_handles();

    uv_loop_t* loop_;
    Config config_;
    State state_ = State::starting;
    int exit_status_ = 0;
    uv_tcp_t listener_{};  // the listening socket
    uv_signal_t sigint_{};
    uv_signal_t sigterm_{};
    uv_timer_t drain_timer_{};           // bounds the drain after the first signal
    uv_timer_t idle_timer_{};            // one sweep timer for every connection's idle timeout
    std::uint64_t idle_timeout_ms_ = 0;  // 0: off
    RingPool rings_;
    Connection* connections_ = nullptr;  // live connections, most recently active first
    Connection* oldest_ = nullptr;       // the other end of that list
    std::size_t live_ = 0;               // length of that list
    ServerCounters counters_;
    std::uint64_t last_accept_warning_ms_ = 0;  // rate-limits the out-of-fd warning
    std::uint64_t last_refuse_warning_ms_ = 0;  // rate-limits the over-the-limit warning
    std::array<char, 64 * KiB> discard_{};      // input read and dropped during a drain
};

}  // namespace echod
