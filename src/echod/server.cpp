#include "echod/server.h"

#include "common/log.h"
#include "common/parse.h"
#include "echod/connection.h"
#include "echod/listener.h"
#include "echod/systemd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
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

// Server handles (listeners included) are owned by the Server, which
// outlives the loop's run: nothing to free when they close.
void on_own_handle_closed(uv_handle_t* /*handle*/) {}

const char* signal_name(int signum) {
    switch (signum) {
        case SIGINT:
            return "SIGINT";
        case SIGTERM:
            return "SIGTERM";
        case SIGUSR1:
            return "SIGUSR1";
        default:
            return "signal";
    }
}

std::uint64_t to_ms(double seconds) {
    return static_cast<std::uint64_t>(seconds * 1000);
}

}  // namespace

Server::Server(uv_loop_t* loop, const Config& config)
    : loop_(loop),
      config_(config),
      rings_(config.buffer_size, default_max_pooled(config.buffer_size)),
      context_{loop_,
               rings_,
               stats_,
               connections_,
               uv_buf_init(scratch_.data(), scratch_.size()),
               [this] { stop_if_drained(); }} {}

Server::~Server() = default;

int Server::run() {
    // Handles are initialised up front so that every exit path closes the
    // same set.
    uv_signal_init(loop_, &sigint_);
    uv_signal_init(loop_, &sigterm_);
    uv_signal_init(loop_, &sigusr1_);
    uv_timer_init(loop_, &drain_timer_);
    uv_timer_init(loop_, &idle_timer_);
    uv_timer_init(loop_, &stats_timer_);
    sigint_.data = sigterm_.data = sigusr1_.data = this;
    drain_timer_.data = idle_timer_.data = stats_timer_.data = this;

    // Signals first: a script may send SIGTERM the moment it reads the ready
    // line, and that must drain, not kill.
    uv_signal_start(&sigint_, on_signal, SIGINT);
    uv_signal_start(&sigterm_, on_signal, SIGTERM);
    uv_signal_start(&sigusr1_, on_signal, SIGUSR1);
    // A --workers worker starts with these blocked (supervisor.cpp); now that
    // they are handled, one that came early is delivered, as a drain.
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGINT, SIGTERM, SIGUSR1}) {
        sigaddset(&handled, s);
    }
    sigprocmask(SIG_UNBLOCK, &handled, nullptr);
    std::string error;
    std::vector<int> inherited = take_listen_fds(error);
    if (!error.empty()) {
        common::log_error("socket activation: {}", error);
    }
    if (!inherited.empty()) {
        common::log_info("socket activation: {} inherited socket(s); --listen and --port do not apply",
                         inherited.size());
    }
    bool started = error.empty();
    std::size_t count = inherited.empty() ? config_.listen.size() : inherited.size();
    for (std::size_t i = 0; started && i < count; ++i) {
        std::string address;
        int port = -1;
        if (inherited.empty()) {
            address = config_.listen[i];
            port = start_listening(address);
        } else {
            port = adopt_listener(inherited[i], address);
        }
        started = port > 0 && (!config_.udp || start_udp(address, static_cast<std::uint16_t>(port)));
    }
    if (!started) {
        exit_status_ = 1;
        close_own_handles();
        uv_run(loop_, UV_RUN_DEFAULT);
        return exit_status_;
    }
    if (std::string failed = notify_systemd("READY=1"); !failed.empty()) {
        common::log_warn("systemd notify: {}", failed);
    }
    state_ = State::serving;
    if (config_.idle_timeout_s > 0) {
        // One timer for all connections, ticking at a tenth of the timeout
        // (10 ms..1 s): a connection goes at most one tick late.
        connections_.set_idle_timeout(std::max<std::uint64_t>(1, to_ms(config_.idle_timeout_s)));
        std::uint64_t tick = std::clamp<std::uint64_t>(connections_.idle_timeout_ms() / 10, 10, 1000);
        uv_timer_start(&idle_timer_, on_idle_check, tick, tick);
    }
    double interval = config_.stats_interval_s;
    if (interval == 0 && !config_.metrics_file.empty()) {
        interval = default_metrics_interval_s;
    }
    if (interval > 0) {
        std::uint64_t ms = std::max<std::uint64_t>(1, to_ms(interval));
        uv_timer_start(&stats_timer_, on_stats_tick, ms, ms);
    }
    last_reported_ms_ = uv_now(loop_);
    if (!config_.metrics_file.empty()) {
        report_stats(false);  // the file exists from the start
    }
    uv_run(loop_, UV_RUN_DEFAULT);

    if (!config_.metrics_file.empty()) {
        report_stats(false);  // the final figures
    }
    std::string extra;
    if (stats_.refused != 0) {
        extra += fmt::format(", {} refused over --max-connections", stats_.refused);
    }
    if (stats_.closed_idle != 0) {
        extra += fmt::format(", {} closed idle", stats_.closed_idle);
    }
    if (stats_.drain_cut_short != 0) {
        extra += fmt::format(", {} closed at the drain deadline", stats_.drain_cut_short);
    }
    common::log_notice("stopped: {} connections served, {} bytes echoed{}", stats_.accepted, stats_.bytes_out, extra);
    return exit_status_;
}

int Server::start_listening(const std::string& address) {
    auto listener = std::make_unique<Listener>();
    uv_tcp_init(loop_, &listener->tcp);
    listener->tcp.data = this;
    listener->server = this;
    uv_tcp_t* tcp = &listener->tcp;
    listeners_.push_back(std::move(listener));  // owned (and closed) from here on

    std::string wanted = format_address(address, config_.port);
    ListenSocket socket = open_listen_socket(address, config_.port, config_.reuseaddr, config_.reuseport);
    int err = socket.error;
    const char* call = socket.call;
    if (err == 0) {
        err = uv_tcp_open(tcp, socket.fd);
        call = "uv_tcp_open";
        if (err != 0) {
            ::close(socket.fd);
        }
    }
    if (err != 0) {
        common::log_error("cannot listen on {}: {}: {} ({})", wanted, call, uv_strerror(err), uv_err_name(err));
        return -1;
    }
    return listen_and_announce(
        tcp, wanted,
        fmt::format("reuseaddr {}{}", config_.reuseaddr ? "on" : "off", config_.reuseport ? ", reuseport on" : "")
            .c_str());
}

int Server::adopt_listener(int fd, std::string& address) {
    auto listener = std::make_unique<Listener>();
    uv_tcp_init(loop_, &listener->tcp);
    listener->tcp.data = this;
    listener->server = this;
    uv_tcp_t* tcp = &listener->tcp;
    listeners_.push_back(std::move(listener));

    std::string wanted = fmt::format("inherited fd {}", fd);
    int type = 0;
    socklen_t type_length = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 || type != SOCK_STREAM) {
        common::log_error("cannot listen on {}: not a TCP socket (echod takes ListenStream= sockets)", wanted);
        return -1;
    }
    // systemd hands the socket over without close-on-exec.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (int err = uv_tcp_open(tcp, fd); err != 0) {
        common::log_error("cannot listen on {}: uv_tcp_open: {} ({})", wanted, uv_strerror(err), uv_err_name(err));
        return -1;
    }
    sockaddr_storage bound{};
    int length = sizeof bound;
    uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &length);
    char host[INET6_ADDRSTRLEN] = "";
    const void* raw = bound.ss_family == AF_INET6
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&bound)->sin6_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&bound)->sin_addr);
    inet_ntop(bound.ss_family, raw, host, sizeof host);
    address = host;
    return listen_and_announce(tcp, wanted, fmt::format("socket-activated fd {}", fd).c_str());
}

int Server::listen_and_announce(uv_tcp_t* tcp, const std::string& wanted, const char* how) {
    int err = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), config_.backlog, on_connection);
    if (err != 0) {
        common::log_error("cannot listen on {}: listen: {} ({})", wanted, uv_strerror(err), uv_err_name(err));
        return -1;
    }
    sockaddr_storage bound{};
    int length = sizeof bound;
    uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &length);
    common::log_notice("listening on {} (backlog {}, buffer {}, {}, pid {})",
                       format_address(reinterpret_cast<sockaddr*>(&bound)), config_.backlog,
                       common::format_size(config_.buffer_size), how, ::getpid());
    return bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

bool Server::start_udp(const std::string& address, std::uint16_t port) {
    auto echo = std::make_unique<UdpEcho>();
    uv_udp_init(loop_, &echo->udp);
    echo->udp.data = this;
    uv_udp_t* udp = &echo->udp;
    udp_.push_back(std::move(echo));  // owned (and closed) from here on

    sockaddr_storage storage{};
    bool v6 = address.find(':') != std::string::npos;
    int err = v6 ? uv_ip6_addr(address.c_str(), port, reinterpret_cast<sockaddr_in6*>(&storage))
                 : uv_ip4_addr(address.c_str(), port, reinterpret_cast<sockaddr_in*>(&storage));
    const char* call = "address";
    if (err == 0) {
        err = uv_udp_bind(udp, reinterpret_cast<const sockaddr*>(&storage), v6 ? UV_UDP_IPV6ONLY : 0);
        call = "bind";
    }
    if (err == 0) {
        err = uv_udp_recv_start(udp, on_udp_alloc, on_udp_recv);
        call = "recv";
    }
    if (err != 0) {
        common::log_error("cannot serve UDP on {}: {}: {} ({})", format_address(address, port), call, uv_strerror(err),
                          uv_err_name(err));
        return false;
    }
    common::log_notice("udp echo on {}", format_address(address, port));
    return true;
}

void Server::on_udp_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
    *buf = owner(handle)->context_.discard;
}

void Server::on_udp_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags) {
    Server* self = owner(reinterpret_cast<uv_handle_t*>(udp));
    if (nread < 0) {
        // E.g. ECONNREFUSED from an ICMP error for an earlier reply: that
        // peer's problem, not the socket's.
        common::log_debug("udp recv: {}", uv_strerror(static_cast<int>(nread)));
        return;
    }
    if (from == nullptr) {
        return;  // nothing more to read this time
    }
    ++self->stats_.udp_in;
    if ((flags & UV_UDP_PARTIAL) != 0) {
        ++self->stats_.udp_dropped;  // cannot happen below 64 KiB; never echo a cut datagram
        return;
    }
    // One datagram back to its sender, now or never: UDP promises no more,
    // and queuing would let a flood grow memory.
    uv_buf_t reply = uv_buf_init(buf->base, static_cast<unsigned int>(nread));
    if (uv_udp_try_send(udp, &reply, 1, from) >= 0) {
        ++self->stats_.udp_out;
    } else {
        ++self->stats_.udp_dropped;
    }
}

void Server::on_connection(uv_stream_t* listener, int status) {
    Server* self = owner(reinterpret_cast<uv_handle_t*>(listener));
    if (status != 0) {
        // libuv 1.44 handles EMFILE/ENFILE itself (it accepts and closes what
        // is pending with a reserved descriptor, so the loop does not spin)
        // and mostly does not report it; what it does report, we log at most
        // once a second. Served connections carry on either way.
        ++self->stats_.accept_errors;
        std::uint64_t now = uv_now(self->loop_);
        if (now - self->last_accept_warning_ms_ >= 1000 || self->last_accept_warning_ms_ == 0) {
            self->last_accept_warning_ms_ = now;
            common::log_warn("accept: {} ({}); {} connections open, {} accept errors so far", uv_strerror(status),
                             uv_err_name(status), self->stats_.connections, self->stats_.accept_errors);
        }
        return;
    }
    if (self->state_ != State::serving) {
        return;
    }
    if (self->stats_.connections >= self->config_.max_connections) {
        self->refuse(listener);
        return;
    }
    Connection::accept(self->context_, listener);
}

void Server::refuse(uv_stream_t* listener) {
    // Accept and close at once, rather than leave it in the backlog: the
    // client learns now, and served connections are not slowed down.
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(loop_, tcp);
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(tcp)) == 0) {
        ++stats_.refused;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(tcp),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); });
    std::uint64_t now = uv_now(loop_);
    if (last_refuse_warning_ms_ == 0 || now - last_refuse_warning_ms_ >= 1000) {
        last_refuse_warning_ms_ = now;
        common::log_warn("--max-connections {} reached: refusing new connections ({} refused so far)",
                         config_.max_connections, stats_.refused);
    }
}

void Server::on_idle_check(uv_timer_t* timer) {
    Server* self = owner(reinterpret_cast<uv_handle_t*>(timer));
    // Closing connections stay listed until their close callback: skip them.
    self->connections_.sweep(uv_now(self->loop_), [self](ConnectionList::Node& node, std::uint64_t idle_ms) {
        auto& c = static_cast<Connection&>(node);
        if (c.output_progressed()) {
            return true;  // still moving bytes: active now
        }
        if (!c.closing()) {
            common::log_debug("closing a connection idle for {} ms", idle_ms);
            ++self->stats_.closed_idle;
            c.close();
        }
        return false;
    });
}

Stats Server::snapshot() const {
    Stats now = stats_;
    now.rings_in_use = rings_.in_use();
    now.rings_pooled = rings_.pooled();
    now.ring_bytes = rings_.ring_capacity();
    return now;
}

void Server::report_stats(bool log_line) {
    Stats now = snapshot();
    std::uint64_t now_ms = uv_now(loop_);
    if (log_line) {
        double seconds = static_cast<double>(now_ms - last_reported_ms_) / 1000;
        common::log_notice("{}", format_stats_line(now, last_reported_, seconds));
        last_reported_ = now;
        last_reported_ms_ = now_ms;
    }
    if (!config_.metrics_file.empty()) {
        std::string error = write_file_atomically(config_.metrics_file, format_prometheus(now));
        if (!error.empty()) {
            common::log_warn("--metrics-file: {}", error);
        }
    }
}

void Server::on_stats_tick(uv_timer_t* timer) {
    Server* self = owner(reinterpret_cast<uv_handle_t*>(timer));
    self->report_stats(self->config_.stats_interval_s > 0);
}

void Server::on_signal(uv_signal_t* handle, int signum) {
    Server* self = owner(reinterpret_cast<uv_handle_t*>(handle));
    if (signum == SIGUSR1) {
        self->report_stats(true);
        return;
    }
    if (self->state_ == State::serving) {
        self->begin_drain(signum);
        return;
    }
    common::log_warn("{} again: closing {} connections now", signal_name(signum), self->stats_.connections);
    self->exit_status_ = 1;
    self->close_connections();
}

void Server::begin_drain(int signum) {
    common::log_info("{}: draining {} connections (up to {:g} s; signal again to stop now)", signal_name(signum),
                     stats_.connections, config_.shutdown_timeout_s);
    state_ = State::draining;
    if (std::string failed = notify_systemd("STOPPING=1"); !failed.empty()) {
        common::log_warn("systemd notify: {}", failed);
    }
    uv_timer_stop(&idle_timer_);  // the drain has its own deadline
    close_listeners();
    connections_.for_each([](ConnectionList::Node& c) { static_cast<Connection&>(c).begin_drain(); });
    uv_timer_start(&drain_timer_, on_drain_timeout, to_ms(config_.shutdown_timeout_s), 0);
    stop_if_drained();
}

void Server::on_drain_timeout(uv_timer_t* timer) {
    Server* self = owner(reinterpret_cast<uv_handle_t*>(timer));
    common::log_warn("drain deadline: closing {} connections still open", self->stats_.connections);
    self->stats_.drain_cut_short += self->stats_.connections;
    self->close_connections();
}

void Server::close_connections() {
    // close() only schedules the close; the list changes in on_close.
    connections_.for_each([](ConnectionList::Node& c) { static_cast<Connection&>(c).close(); });
    stop_if_drained();
}

void Server::stop_if_drained() {
    if (state_ == State::draining && stats_.connections == 0) {
        state_ = State::stopping;
        close_own_handles();
    }
}

void Server::close_listeners() {
    for (const auto& listener : listeners_) {
        if (!uv_is_closing(as_handle(&listener->tcp))) {
            uv_close(as_handle(&listener->tcp), on_own_handle_closed);
        }
    }
    for (const auto& echo : udp_) {
        if (!uv_is_closing(as_handle(&echo->udp))) {
            uv_close(as_handle(&echo->udp), on_own_handle_closed);
        }
    }
}

void Server::close_own_handles() {
    close_listeners();
    for (uv_handle_t* handle : {as_handle(&sigint_), as_handle(&sigterm_), as_handle(&sigusr1_),
                                as_handle(&drain_timer_), as_handle(&idle_timer_), as_handle(&stats_timer_)}) {
        if (!uv_is_closing(handle)) {
            uv_close(handle, on_own_handle_closed);
        }
    }
}

}  // namespace echod
