#include "echod/server.h"

#include "echod/connection.h"
#include "echod/listener.h"
#include "echod/log.h"
#include "echod/parse.h"

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <csignal>

namespace echod {
namespace {

Server* owner(const uv_handle_t* handle) {
    return static_cast<Server*>(handle->data);
}

template <typename Handle>
uv_handle_t* as_handle(Handle* handle) {
    return reinterpret_cast<uv_handle_t*>(handle);
}

// Server handles are members of Server, which outlives the loop's run:
// nothing to free when they close.
void on_own_handle_closed(uv_handle_t* /*handle*/) {}

const char* signal_name(int signum) {
    return signum == SIGINT ? "SIGINT" : signum == SIGTERM ? "SIGTERM" : "signal";
}

}  // namespace

Server::Server(uv_loop_t* loop, const Config& config)
    : loop_(loop), config_(config), rings_(config.buffer_size, default_max_pooled(config.buffer_size)) {}

void Server::link_front(Connection* connection) {
    connection->prev_ = nullptr;
    connection->next_ = connections_;
    if (connections_ != nullptr) {
        connections_->prev_ = connection;
    } else {
        oldest_ = connection;
    }
    connections_ = connection;
}

void Server::unlink(Connection* connection) {
    if (connection->prev_ != nullptr) {
        connection->prev_->next_ = connection->next_;
    } else {
        connections_ = connection->next_;
    }
    if (connection->next_ != nullptr) {
        connection->next_->prev_ = connection->prev_;
    } else {
        oldest_ = connection->prev_;
    }
}

void Server::add(Connection* connection) {
    connection->last_active_ms_ = uv_now(loop_);
    link_front(connection);
    ++live_;
    ++counters_.accepted;
}

void Server::mark_active(Connection* connection) {
    // Keeping the list in order of activity makes the idle sweep look only at
    // the oldest end: O(1) per byte moved, O(expired) per sweep.
    connection->last_active_ms_ = uv_now(loop_);
    if (connections_ != connection) {
        unlink(connection);
        link_front(connection);
    }
}

void Server::remove(Connection* connection) {
    unlink(connection);
    --live_;
    ++counters_.closed;
    counters_.bytes_echoed += connection->bytes_echoed();
    stop_if_drained();
}

int Server::run() {
    // Handles are initialised up front so that every exit path closes the
    // same set.
    uv_tcp_init(loop_, &listener_);
    uv_signal_init(loop_, &sigint_);
    uv_signal_init(loop_, &sigterm_);
    uv_timer_init(loop_, &drain_timer_);
    uv_timer_init(loop_, &idle_timer_);
    listener_.data = sigint_.data = sigterm_.data = drain_timer_.data = idle_timer_.data = this;

    // Signals first: a script may send SIGTERM the moment it reads the ready
    // line, and that must drain, not kill.
    uv_signal_start(&sigint_, on_signal, SIGINT);
    uv_signal_start(&sigterm_, on_signal, SIGTERM);
    if (!start_listening()) {
        exit_status_ = 1;
        close_own_handles();
        uv_run(loop_, UV_RUN_DEFAULT);
        return exit_status_;
    }
    state_ = State::serving;
    if (config_.idle_timeout_s > 0) {
        // One timer for all connections, ticking at a tenth of the timeout
        // (10 ms..1 s): a connection goes at most one tick late.
        idle_timeout_ms_ = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(config_.idle_timeout_s * 1000));
        std::uint64_t tick = std::clamp<std::uint64_t>(idle_timeout_ms_ / 10, 10, 1000);
        uv_timer_start(&idle_timer_, on_idle_check, tick, tick);
    }
    uv_run(loop_, UV_RUN_DEFAULT);

    std::string extra;
    if (counters_.refused != 0) {
        extra += fmt::format(", {} refused over --max-connections", counters_.refused);
    }
    if (counters_.closed_idle != 0) {
        extra += fmt::format(", {} closed idle", counters_.closed_idle);
    }
    if (counters_.drain_cut_short != 0) {
        extra += fmt::format(", {} closed at the drain deadline", counters_.drain_cut_short);
    }
    log_notice("stopped: {} connections served, {} bytes echoed{}", counters_.accepted, counters_.bytes_echoed, extra);
    return exit_status_;
}

bool Server::start_listening() {
    std::string wanted = format_address(config_.listen, config_.port);
    ListenSocket socket = open_listen_socket(config_.listen, config_.port, config_.reuseaddr);
    int err = socket.error;
    const char* call = socket.call;
    if (err == 0) {
        err = uv_tcp_open(&listener_, socket.fd);
        call = "uv_tcp_open";
        if (err != 0) {
            ::close(socket.fd);
        }
    }
    if (err == 0) {
        err = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), config_.backlog, on_connection);
        call = "listen";
    }
    if (err != 0) {
        log_error("cannot listen on {}: {}: {} ({})", wanted, call, uv_strerror(err), uv_err_name(err));
        return false;
    }

    sockaddr_storage bound{};
    int length = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &length);
    log_notice("listening on {} (backlog {}, buffer {}, reuseaddr {}, pid {})",
               format_address(reinterpret_cast<sockaddr*>(&bound)), config_.backlog, format_size(config_.buffer_size),
               config_.reuseaddr ? "on" : "off", ::getpid());
    return true;
}

void Server::on_connection(uv_stream_t* listener, int status) {
    Server* self = owner(reinterpret_cast<uv_handle_t*>(listener));
    if (status != 0) {
        // libuv 1.44 handles EMFILE/ENFILE itself (it accepts and closes what
        // is pending with a reserved descriptor, so the loop does not spin)
        // and mostly does not report it; what it does report, we log at most
        // once a second. Served connections carry on either way.
        ++self->counters_.accept_errors;
        std::uint64_t now = uv_now(self->loop_);
        if (now - self->last_accept_warning_ms_ >= 1000 || self->last_accept_warning_ms_ == 0) {
            self->last_accept_warning_ms_ = now;
            log_warn("accept: {} ({}); {} connections open, {} accept errors so far", uv_strerror(status),
                     uv_err_name(status), self->live_, self->counters_.accept_errors);
        }
        return;
    }
    if (self->state_ != State::serving) {
        return;
    }
    if (self->live_ >= self->config_.max_connections) {
        self->refuse(listener);
        return;
    }
    Connection::accept(*self, listener);
}

void Server::refuse(uv_stream_t* listener) {
    // Accept and close at once, rather than leave it in the backlog: the
    // client learns now, and served connections are not slowed down.
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(loop_, tcp);
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(tcp)) == 0) {
        ++counters_.refused;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(tcp),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); });
    std::uint64_t now = uv_now(loop_);
    if (last_refuse_warning_ms_ == 0 || now - last_refuse_warning_ms_ >= 1000) {
        last_refuse_warning_ms_ = now;
        log_warn("--max-connections {} reached: refusing new connections ({} refused so far)", config_.max_connections,
                 counters_.refused);
    }
}

void Server::on_idle_check(uv_timer_t* timer) {
    Server* self = owner(reinterpret_cast<uv_handle_t*>(timer));
    std::uint64_t now = uv_now(self->loop_);
    // Oldest first; stop at the first one still within its time. Closing
    // connections stay listed until their close callback: skip them.
    for (Connection* c = self->oldest_; c != nullptr;) {
        Connection* newer = c->prev_;
        if (now - c->last_active_ms_ < self->idle_timeout_ms_) {
            break;
        }
        if (c->write_progressed()) {
            self->mark_active(c);  // moves c to the front; the sweep goes on from newer
        } else if (!c->closing()) {
            log_debug("closing a connection idle for {} ms", now - c->last_active_ms_);
            ++self->counters_.closed_idle;
            c->close();
        }
        c = newer;
    }
}

void Server::on_signal(uv_signal_t* handle, int signum) {
    Server* self = owner(reinterpret_cast<uv_handle_t*>(handle));
    if (self->state_ == State::serving) {
        self->begin_drain(signum);
        return;
    }
    log_warn("{} again: closing {} connections now", signal_name(signum), self->live_);
    self->exit_status_ = 1;
    self->close_connections();
}

void Server::begin_drain(int signum) {
    log_info("{}: draining {} connections (up to {:g} s; signal again to stop now)", signal_name(signum), live_,
             config_.shutdown_timeout_s);
    state_ = State::draining;
    uv_timer_stop(&idle_timer_);  // the drain has its own deadline
    uv_close(as_handle(&listener_), on_own_handle_closed);
    for (Connection* c = connections_; c != nullptr;) {
        Connection* next = c->next_;  // begin_drain never frees c, but be safe
        c->begin_drain();
        c = next;
    }
    uv_timer_start(&drain_timer_, on_drain_timeout, static_cast<std::uint64_t>(config_.shutdown_timeout_s * 1000), 0);
    stop_if_drained();
}

void Server::on_drain_timeout(uv_timer_t* timer) {
    Server* self = owner(reinterpret_cast<uv_handle_t*>(timer));
    log_warn("drain deadline: closing {} connections still open", self->live_);
    self->counters_.drain_cut_short += self->live_;
    self->close_connections();
}

void Server::close_connections() {
    // close() only schedules the close; the list changes in on_close.
    for (Connection* c = connections_; c != nullptr; c = c->next_) {
        c->close();
    }
    stop_if_drained();
}

void Server::stop_if_drained() {
    if (state_ == State::draining && live_ == 0) {
        state_ = State::stopping;
        close_own_handles();
    }
}

void Server::close_own_handles() {
    for (uv_handle_t* handle : {as_handle(&listener_), as_handle(&sigint_), as_handle(&sigterm_),
                                as_handle(&drain_timer_), as_handle(&idle_timer_)}) {
        if (!uv_is_closing(handle)) {
            uv_close(handle, on_own_handle_closed);
        }
    }
}

}  // namespace echod
