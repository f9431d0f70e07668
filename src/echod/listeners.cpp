#include "echod/listeners.h"

#include "common/address.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/uv_owner.h"
#include "echod/systemd.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>

namespace echod {
namespace {

// The handles belong to Listeners, which outlives the loop's run: nothing
// to free when they close.
void on_closed(uv_handle_t* /*handle*/) {}

// "permission denied (EACCES)" for errno's value.
std::string system_error(int error) {
    int err = uv_translate_sys_error(error);
    return fmt::format("{} ({})", uv_strerror(err), uv_err_name(err));
}

const char* file_kind(mode_t mode) {
    if (S_ISREG(mode)) {
        return "a regular file";
    }
    if (S_ISDIR(mode)) {
        return "a directory";
    }
    if (S_ISLNK(mode)) {
        return "a symbolic link";
    }
    if (S_ISFIFO(mode)) {
        return "a FIFO";
    }
    return "a device file";
}

// The descriptor shed_pending frees for a moment: /dev/null, or "/" if
// there is none (as libuv keeps one for its own listeners). -1 if neither.
int open_reserve_descriptor() {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0 ? fd : ::open("/", O_RDONLY | O_CLOEXEC);
}

bool same_file(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// The file at path is in the way of a Unix socket's bind. Returns why it
// must stay, or "" once it was a stale socket file and is gone: one that
// nobody accepts on (connect() is refused), left by a server that did not
// remove it, say one killed with SIGKILL. A live socket is never touched,
// nor is a file that is not a socket.
std::string remove_if_stale(const std::string& path, const sockaddr* address, socklen_t length) {
    struct stat found {};
    if (::lstat(path.c_str(), &found) != 0) {
        return errno == ENOENT ? "" : fmt::format("lstat: {}", system_error(errno));  // gone meanwhile: bind again
    }
    if (!S_ISSOCK(found.st_mode)) {
        return fmt::format("{} is there, not a socket (left alone)", file_kind(found.st_mode));
    }
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        return fmt::format("socket: {}", system_error(errno));
    }
    int connected = ::connect(probe, address, length);
    int error = errno;
    ::close(probe);
    // EAGAIN: a listener whose backlog is full, busy rather than gone.
    if (connected == 0 || error == EAGAIN) {
        return "a server accepts connections on it";
    }
    if (error != ECONNREFUSED) {
        return fmt::format("connect, to see whether it is stale: {}", system_error(error));
    }
    // Stale. Removed only if it is still the file just probed.
    struct stat now {};
    if (::lstat(path.c_str(), &now) == 0 && same_file(now, found) && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return fmt::format("a stale socket file, but unlink: {}", system_error(errno));
    }
    return {};
}

}  // namespace

ListenSocket open_listen_socket(const std::string& literal, std::uint16_t port, bool reuseaddr, bool reuseport) {
    sockaddr_storage storage{};
    if (!common::make_address(literal, port, storage)) {
        return {-1, UV_EINVAL, "inet_pton"};
    }
    socklen_t length = common::address_length(storage);

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

bool Listeners::start(AcceptCallback on_accept, void* data) {
    on_accept_ = on_accept;
    accept_data_ = data;
    if (reserve_fd_ < 0) {
        reserve_fd_ = open_reserve_descriptor();
    }
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
        Opened opened = !inherited.empty()                     ? adopt_socket(inherited[i])
                        : common::unix_path(config_.listen[i]) ? open_unix(config_.listen[i])
                                                               : open_tcp(config_.listen[i]);
        if (opened.listener == nullptr) {
            return false;
        }
        bool udp = config_.udp && opened.bound.ss_family != AF_UNIX;
        if (config_.udp && !udp) {
            common::log_info("no UDP echo on {}: --udp applies to IP addresses",
                             common::format_address(reinterpret_cast<const sockaddr*>(&opened.bound)));
        }
        // The ready line means every socket of the address is serving: UDP
        // first (on the port the TCP bind got), then listen and announce.
        if ((udp && !start_udp(opened.bound)) || !listen_and_announce(opened)) {
            return false;
        }
    }
    return true;
}

Listeners::StreamListener* Listeners::new_listener(int fd, bool tcp) {
    streams_.push_back(std::make_unique<StreamListener>());  // owned (and closed) from here on
    StreamListener* listener = streams_.back().get();
    listener->fd = fd;
    listener->tcp = tcp;
    listener->owner = this;
    return listener;
}

Listeners::Opened Listeners::open_tcp(const std::string& address) {
    Opened opened{
        nullptr,
        {},
        common::format_address(address, config_.port),
        fmt::format("reuseaddr {}{}", config_.reuseaddr ? "on" : "off", config_.reuseport ? ", reuseport on" : "")};
    ListenSocket socket = open_listen_socket(address, config_.port, config_.reuseaddr, config_.reuseport);
    if (socket.error != 0) {
        common::log_error("cannot listen on {}: {}: {} ({})", opened.wanted, socket.call, uv_strerror(socket.error),
                          uv_err_name(socket.error));
        return opened;
    }
    opened.listener = new_listener(socket.fd, true);
    socklen_t length = sizeof opened.bound;
    ::getsockname(socket.fd, reinterpret_cast<sockaddr*>(&opened.bound), &length);
    return opened;
}

Listeners::Opened Listeners::open_unix(const std::string& address) {
    Opened opened{nullptr, {}, address, ""};
    if (!common::make_address(address, 0, opened.bound)) {
        // The option parser lets only paths that fit through.
        common::log_error("cannot listen on {}: not a Unix socket path", opened.wanted);
        return opened;
    }
    std::string path(*common::unix_path(address));
    const auto* where = reinterpret_cast<const sockaddr*>(&opened.bound);
    socklen_t length = common::address_length(opened.bound);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        common::log_error("cannot listen on {}: socket: {}", opened.wanted, system_error(errno));
        return opened;
    }
    int bound = ::bind(fd, where, length);
    if (bound != 0 && errno == EADDRINUSE) {
        if (std::string reason = remove_if_stale(path, where, length); !reason.empty()) {
            common::log_error("cannot listen on {}: bind: {}; {}", opened.wanted, system_error(EADDRINUSE), reason);
            ::close(fd);
            return opened;
        }
        bound = ::bind(fd, where, length);
        opened.how = "replaced a stale socket file";
    }
    if (bound != 0) {
        common::log_error("cannot listen on {}: bind: {}", opened.wanted, system_error(errno));
        ::close(fd);
        return opened;
    }
    // The file is ours from here on, and goes at close (even after a
    // failure below): what it is now tells it apart from a later one.
    struct stat made {};
    if (::lstat(path.c_str(), &made) == 0) {
        socket_files_.push_back({path, made.st_dev, made.st_ino});
    }
    opened.listener = new_listener(fd, false);
    return opened;
}

Listeners::Opened Listeners::adopt_socket(int fd) {
    Opened opened{nullptr, {}, fmt::format("inherited fd {}", fd), fmt::format("socket-activated fd {}", fd)};
    int type = 0;
    socklen_t type_length = sizeof type;
    socklen_t length = sizeof opened.bound;
    int family = AF_UNSPEC;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) == 0 && type == SOCK_STREAM &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&opened.bound), &length) == 0) {
        family = opened.bound.ss_family;
    }
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX) {
        common::log_error("cannot listen on {}: not a TCP or Unix stream socket (echod takes ListenStream= sockets)",
                          opened.wanted);
        return opened;
    }
    // systemd hands the socket over without close-on-exec.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    // Its file, if a Unix socket's, is systemd's: it stays at exit. Like
    // ours, the socket must not block.
    if (int flags = ::fcntl(fd, F_GETFL); flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        common::log_error("cannot listen on {}: fcntl O_NONBLOCK: {}", opened.wanted, system_error(errno));
        return opened;
    }
    opened.listener = new_listener(fd, family != AF_UNIX);
    return opened;
}

bool Listeners::listen_and_announce(const Opened& opened) {
    StreamListener& listener = *opened.listener;
    const char* call = "listen";
    int err = ::listen(listener.fd, config_.backlog) == 0 ? 0 : uv_translate_sys_error(errno);
    if (err == 0) {
        call = "uv_poll_init";
        err = uv_poll_init_socket(loop_, &listener.poll, listener.fd);
    }
    if (err == 0) {
        listener.polled = true;
        listener.poll.data = &listener;
        call = "uv_poll_start";
        err = uv_poll_start(&listener.poll, UV_READABLE, on_listener_readable);
    }
    if (err != 0) {
        common::log_error("cannot listen on {}: {}: {} ({})", opened.wanted, call, uv_strerror(err), uv_err_name(err));
        return false;
    }
    common::log_notice("listening on {} (backlog {}, buffer {}, {}{}pid {})",
                       common::format_address(reinterpret_cast<const sockaddr*>(&opened.bound)), config_.backlog,
                       common::format_size(config_.buffer_size), opened.how, opened.how.empty() ? "" : ", ",
                       ::getpid());
    return true;
}

void Listeners::on_listener_readable(uv_poll_t* poll, int status, int /*events*/) {
    StreamListener* listener = common::owner_of<StreamListener>(poll);
    Listeners* self = listener->owner;
    if (status < 0) {
        // POLLERR on a listening socket: libuv stopped watching it. Said,
        // not retried: the other listeners and the connections carry on.
        common::log_error("listener fd {}: {}; no more connections accepted on it", listener->fd, uv_strerror(status));
        self->on_accept_(self->accept_data_, -1, listener->tcp, status);
        return;
    }
    self->accept_pending(*listener);
}

void Listeners::accept_pending(StreamListener& listener) {
    // Everything pending, as libuv's own listeners do: one readiness
    // wakes the loop once for a burst of connections.
    while (listener.fd >= 0) {
        int fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            on_accept_(accept_data_, fd, listener.tcp, 0);
            continue;
        }
        int error = errno;
        if (error == EINTR || error == ECONNABORTED) {
            continue;  // interrupted, or gone before we took it: the next one
        }
        if (error == EAGAIN || error == EWOULDBLOCK) {
            return;  // nothing more pending
        }
        if ((error == EMFILE || error == ENFILE) && shed_pending(listener)) {
            continue;  // all closed; accept again (EAGAIN ends it)
        }
        // Out of memory or descriptors with no reserve, or worse: said, and
        // tried again at the next readiness.
        on_accept_(accept_data_, -1, listener.tcp, uv_translate_sys_error(error));
        return;
    }
}

bool Listeners::shed_pending(StreamListener& listener) {
    if (reserve_fd_ < 0) {
        return false;
    }
    ::close(reserve_fd_);
    reserve_fd_ = -1;
    bool shed = false;
    for (;;) {
        int pending = ::accept4(listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (pending < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            break;  // EAGAIN: none left; anything else: stop here
        }
        shed = true;
        on_accept_(accept_data_, -1, listener.tcp, UV_EMFILE);  // counted (and said) before the client sees it
        ::close(pending);
    }
    reserve_fd_ = open_reserve_descriptor();
    return shed;
}

bool Listeners::start_udp(const sockaddr_storage& address) {
    udp_.push_back(std::make_unique<UdpSocket>());  // owned (and closed) from here on
    UdpSocket& socket = *udp_.back();
    uv_udp_t* udp = &socket.handle;
    uv_udp_init(loop_, udp);
    udp->data = &socket;
    socket.owner = this;
    if (faults_ != nullptr && (faults_->first_config().delay || faults_->first_config().drop > 0)) {
        // A generator of its own per socket, apart from the connections'.
        std::uint64_t seed = faults_->first_config().seed.value_or(0) ^ (0x5544500000000000ULL + udp_.size());
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
    // Before the sockets close, as libuv does: after, another server could
    // have made a new file at the path (as stale) by the time we unlink.
    remove_socket_files();
    for (const auto& listener : streams_) {
        if (listener->polled && !uv_is_closing(common::as_handle(&listener->poll))) {
            uv_close(common::as_handle(&listener->poll), on_closed);  // stops watching fd at once
        }
        if (listener->fd >= 0) {
            ::close(listener->fd);
            listener->fd = -1;
        }
    }
    if (reserve_fd_ >= 0) {
        ::close(reserve_fd_);
        reserve_fd_ = -1;
    }
    for (const auto& udp : udp_) {
        if (udp->faults) {
            udp->faults->cancel();
        }
        if (!uv_is_closing(common::as_handle(&udp->handle))) {
            uv_close(common::as_handle(&udp->handle), on_closed);
        }
    }
}

void Listeners::remove_socket_files() {
    for (const SocketFile& file : socket_files_) {
        // Only if it is still the file bind made: not one that replaced it
        // since (someone removed ours, and another server bound the path).
        struct stat now {};
        if (::lstat(file.path.c_str(), &now) == 0 && now.st_dev == file.device && now.st_ino == file.inode &&
            ::unlink(file.path.c_str()) != 0) {
            common::log_warn("cannot remove {}{}: {}", common::unix_prefix, file.path, system_error(errno));
        }
    }
    socket_files_.clear();
}

}  // namespace echod
