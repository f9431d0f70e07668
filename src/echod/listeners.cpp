#include "echod/listeners.h"

#include "common/address.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/uv_owner.h"
#include "echod/systemd.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>

namespace echod {
namespace {

template <typename Handle>
uv_handle_t* as_handle(Handle* handle) {
    return reinterpret_cast<uv_handle_t*>(handle);
}

// The handles belong to Listeners, which outlives the loop's run: nothing
// to free when they close.
void on_closed(uv_handle_t* /*handle*/) {}

}  // namespace

ListenSocket open_listen_socket(const std::string& literal, std::uint16_t port, bool reuseaddr, bool reuseport) {
    sockaddr_storage storage{};
    if (!common::make_address(literal, port, storage)) {
        return {-1, UV_EINVAL, "inet_pton"};
    }
    socklen_t length = storage.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);

    int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return {-1, uv_translate_sys_error(errno), "socket"};
    }
    auto fail = [fd](const char* call) {
        int error = uv_translate_sys_error(errno);
        ::close(fd);
        return ListenSocket{-1, error, call};
    };
    int on = 1;
    if (reuseaddr && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
        return fail("setsockopt SO_REUSEADDR");
    }
    // libuv 1.44 has no flag for SO_REUSEPORT: this is why the socket is ours.
    if (reuseport && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        return fail("setsockopt SO_REUSEPORT");
    }
    // '::' means IPv6 only, whatever net.ipv6.bindv6only says, so that an
    // IPv4 listener on the same port is never shadowed by surprise.
    if (storage.ss_family == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) {
        return fail("setsockopt IPV6_V6ONLY");
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
        return fail("bind");
    }
    return {fd, 0, ""};
}

Listeners::Listeners(uv_loop_t* loop, const Config& config, Stats& stats, uv_buf_t datagrams, FaultContext* faults)
    : loop_(loop), config_(config), stats_(stats), datagrams_(datagrams), faults_(faults) {}

bool Listeners::start(uv_connection_cb on_connection, void* data) {
    on_connection_ = on_connection;
    connection_data_ = data;
    std::string error;
    std::vector<int> inherited = take_listen_fds(error);
    if (!error.empty()) {
        common::log_error("socket activation: {}", error);
        return false;
    }
    if (!inherited.empty()) {
        common::log_info("socket activation: {} inherited socket(s); --listen and --port do not apply",
                         inherited.size());
    }
    std::size_t count = inherited.empty() ? config_.listen.size() : inherited.size();
    for (std::size_t i = 0; i < count; ++i) {
        Opened tcp = inherited.empty() ? open_tcp(config_.listen[i]) : adopt_tcp(inherited[i]);
        // The ready line means every socket of the address is serving: UDP
        // first (on the port the TCP bind got), then listen and announce.
        if (tcp.handle == nullptr || (config_.udp && !start_udp(tcp.bound)) || !listen_and_announce(tcp)) {
            return false;
        }
    }
    return true;
}

uv_tcp_t* Listeners::new_tcp() {
    tcp_.push_back(std::make_unique<uv_tcp_t>());  // owned (and closed) from here on
    uv_tcp_t* tcp = tcp_.back().get();
    uv_tcp_init(loop_, tcp);
    tcp->data = connection_data_;
    return tcp;
}

Listeners::Opened Listeners::open_tcp(const std::string& address) {
    uv_tcp_t* tcp = new_tcp();
    Opened opened{
        nullptr,
        {},
        common::format_address(address, config_.port),
        fmt::format("reuseaddr {}{}", config_.reuseaddr ? "on" : "off", config_.reuseport ? ", reuseport on" : "")};
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
        common::log_error("cannot listen on {}: {}: {} ({})", opened.wanted, call, uv_strerror(err), uv_err_name(err));
        return opened;
    }
    opened.handle = tcp;
    int length = sizeof opened.bound;
    uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&opened.bound), &length);
    return opened;
}

Listeners::Opened Listeners::adopt_tcp(int fd) {
    uv_tcp_t* tcp = new_tcp();
    Opened opened{nullptr, {}, fmt::format("inherited fd {}", fd), fmt::format("socket-activated fd {}", fd)};
    int type = 0;
    socklen_t type_length = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 || type != SOCK_STREAM) {
        common::log_error("cannot listen on {}: not a TCP socket (echod takes ListenStream= sockets)", opened.wanted);
        return opened;
    }
    // systemd hands the socket over without close-on-exec.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (int err = uv_tcp_open(tcp, fd); err != 0) {
        common::log_error("cannot listen on {}: uv_tcp_open: {} ({})", opened.wanted, uv_strerror(err),
                          uv_err_name(err));
        return opened;
    }
    opened.handle = tcp;
    int length = sizeof opened.bound;
    uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&opened.bound), &length);
    return opened;
}

bool Listeners::listen_and_announce(const Opened& tcp) {
    int err = uv_listen(reinterpret_cast<uv_stream_t*>(tcp.handle), config_.backlog, on_connection_);
    if (err != 0) {
        common::log_error("cannot listen on {}: listen: {} ({})", tcp.wanted, uv_strerror(err), uv_err_name(err));
        return false;
    }
    common::log_notice("listening on {} (backlog {}, buffer {}, {}, pid {})",
                       common::format_address(reinterpret_cast<const sockaddr*>(&tcp.bound)), config_.backlog,
                       common::format_size(config_.buffer_size), tcp.how, ::getpid());
    return true;
}

bool Listeners::start_udp(const sockaddr_storage& address) {
    udp_.push_back(std::make_unique<UdpSocket>());  // owned (and closed) from here on
    UdpSocket& socket = *udp_.back();
    uv_udp_t* udp = &socket.handle;
    uv_udp_init(loop_, udp);
    udp->data = &socket;
    socket.owner = this;
    if (faults_ != nullptr && (faults_->config.delay || faults_->config.drop > 0)) {
        // A generator of its own per socket, apart from the connections'.
        std::uint64_t seed = faults_->config.seed.value_or(0) ^ (0x5544500000000000ULL + udp_.size());
        socket.faults = std::make_unique<UdpFaults>(*faults_, stats_, udp, config_.buffer_size, seed);
    }

    const auto* where = reinterpret_cast<const sockaddr*>(&address);
    int err = uv_udp_bind(udp, where, address.ss_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
    const char* call = "bind";
    if (err == 0) {
        err = uv_udp_recv_start(udp, on_udp_alloc, on_udp_recv);
        call = "recv";
    }
    if (err != 0) {
        common::log_error("cannot serve UDP on {}: {}: {} ({})", common::format_address(where), call, uv_strerror(err),
                          uv_err_name(err));
        return false;
    }
    common::log_notice("udp echo on {}", common::format_address(where));
    return true;
}
void Listeners::on_udp_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
    *buf = common::owner_of<UdpSocket>(handle)->owner->datagrams_;
}

void Listeners::on_udp_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags) {
    UdpSocket* socket = common::owner_of<UdpSocket>(udp);
    Stats& stats = socket->owner->stats_;
    if (nread < 0) {
        // E.g. ECONNREFUSED from an ICMP error for an earlier reply: that
        // peer's problem, not the socket's.
        common::log_debug("udp recv: {}", uv_strerror(static_cast<int>(nread)));
        return;
    }
    if (from == nullptr) {
        return;  // nothing more to read this time
    }
    ++stats.udp_in;
    if ((flags & UV_UDP_PARTIAL) != 0) {
        ++stats.udp_dropped;  // cannot happen below 64 KiB; never echo a cut datagram
        return;
    }
    if (socket->faults) {
        socket->faults->receive(buf->base, static_cast<std::size_t>(nread), from);
        return;
    }
    send_datagram(udp, buf->base, static_cast<std::size_t>(nread), from, stats);
}

void Listeners::close() {
    for (const auto& tcp : tcp_) {
        if (!uv_is_closing(as_handle(tcp.get()))) {
            uv_close(as_handle(tcp.get()), on_closed);
        }
    }
    for (const auto& udp : udp_) {
        if (udp->faults) {
            udp->faults->cancel();
        }
        if (!uv_is_closing(as_handle(&udp->handle))) {
            uv_close(as_handle(&udp->handle), on_closed);
        }
    }
}

}  // namespace echod
