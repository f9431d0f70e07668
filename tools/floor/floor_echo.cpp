// floor_echo: the floor for echod's benchmarks. The least a single-threaded
// TCP echo server on Linux can do: one epoll loop (level-triggered), plain
// read(2)/write(2), one fixed buffer per connection of echod's ring size.
// No options beyond the port and the buffer size, no logging, no limits, no
// timers. tools/bench prints echod's results as ratios to this program's.
//
//   floor_echo [--port N] [--buffer-size BYTES]
//
// Per connection: read into the empty buffer, write it straight back; if the
// socket takes only part, keep the unwritten tail, stop reading (EPOLLIN off)
// and wait for EPOLLOUT until the tail drains, then read again. EOF or an
// error closes the connection (there is never anything left to flush then:
// it only reads with an empty buffer). Accepted sockets get TCP_NODELAY,
// as echod's do. SIGINT/SIGTERM: close everything and exit 0.
//
// Bench-only: it is not installed and it is no daemon (no backlog control,
// no out-of-descriptor handling beyond not crashing).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t kMinBuffer = 16;
constexpr std::size_t kMaxBuffer = std::size_t{256} << 20;
constexpr int kBacklog = 511;  // echod's default
constexpr int kMaxEvents = 1024;

struct Options {
    unsigned port = 0;
    std::size_t buffer_size = 65536;
};

struct Conn {
    int fd = -1;
    std::unique_ptr<char[]> buf;
    std::size_t head = 0;  // first byte not yet written back
    std::size_t tail = 0;  // end of the bytes read
};

[[noreturn]] void usage_error(std::string_view what) {
    std::fprintf(stderr, "floor_echo: %.*s (usage: floor_echo [--port N] [--buffer-size BYTES])\n",
                 static_cast<int>(what.size()), what.data());
    std::exit(2);
}

[[noreturn]] void fatal(const char* what) {
    std::fprintf(stderr, "floor_echo: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

// A whole number, optionally followed (for sizes) by K/KiB or M/MiB.
bool parse_number(std::string_view text, bool size_suffix, std::size_t& out) {
    std::size_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr == text.data()) {
        return false;
    }
    std::string_view suffix(ptr, static_cast<std::size_t>(end - ptr));
    std::size_t scale = 1;
    if (suffix.empty()) {
        scale = 1;
    } else if (size_suffix && (suffix == "K" || suffix == "KiB")) {
        scale = std::size_t{1} << 10;
    } else if (size_suffix && (suffix == "M" || suffix == "MiB")) {
        scale = std::size_t{1} << 20;
    } else {
        return false;
    }
    if (value > kMaxBuffer) {
        return false;
    }
    out = value * scale;
    return true;
}

Options parse_args(int argc, char** argv) {
    Options opts;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg(argv[i]);
        if (arg == "-h" || arg == "--help") {
            std::puts(
                "usage: floor_echo [--port N] [--buffer-size BYTES]\n"
                "A minimal epoll TCP echo server on 127.0.0.1, the floor for echod's benchmarks.\n"
                "  --port N             TCP port; 0 lets the kernel pick one (default 0)\n"
                "  --buffer-size BYTES  per-connection buffer, 16..256MiB, K/KiB/M/MiB allowed (default 65536)");
            std::exit(0);
        }
        std::string_view name = arg;
        std::string_view value;
        if (auto eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        } else if (arg == "--port" || arg == "--buffer-size") {
            if (i + 1 >= argc) {
                usage_error(std::string(arg) + ": missing value");
            }
            value = argv[++i];
        }
        std::size_t number = 0;
        if (name == "--port") {
            if (!parse_number(value, false, number) || number > 65535) {
                usage_error("--port: '" + std::string(value) + "' is not a port 0..65535");
            }
            opts.port = static_cast<unsigned>(number);
        } else if (name == "--buffer-size") {
            if (!parse_number(value, true, number) || number < kMinBuffer || number > kMaxBuffer) {
                usage_error("--buffer-size: '" + std::string(value) + "' is not a size 16..256MiB");
            }
            opts.buffer_size = number;
        } else {
            usage_error("unknown argument '" + std::string(arg) + "'");
        }
    }
    return opts;
}

class Floor {
public:
    Floor(int epfd, int listen_fd, int signal_fd, std::size_t buffer_size)
        : epfd_(epfd), listen_fd_(listen_fd), signal_fd_(signal_fd), buffer_size_(buffer_size) {}

    // Returns when SIGINT or SIGTERM arrives.
    void run() {
        std::array<epoll_event, kMaxEvents> events{};
        for (;;) {
            int n = epoll_wait(epfd_, events.data(), kMaxEvents, -1);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                fatal("epoll_wait");
            }
            for (int i = 0; i < n; ++i) {
                const int fd = events[static_cast<std::size_t>(i)].data.fd;
                if (fd == listen_fd_) {
                    accept_all();
                } else if (fd == signal_fd_) {
                    return;
                } else if (Conn* conn = find(fd); conn != nullptr) {
                    // Reads only happen with an empty buffer, so the state says
                    // which event we asked for; errors and hang-ups show up as
                    // the read or write failing (or reading 0).
                    if (conn->head < conn->tail) {
                        on_writable(*conn);
                    } else {
                        on_readable(*conn);
                    }
                }
            }
        }
    }

    void close_all() {
        for (auto& conn : conns_) {
            if (conn) {
                ::close(conn->fd);
                conn.reset();
            }
        }
    }

private:
    Conn* find(int fd) {
        auto index = static_cast<std::size_t>(fd);
        return index < conns_.size() ? conns_[index].get() : nullptr;
    }

    void watch(int op, int fd, std::uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        if (epoll_ctl(epfd_, op, fd, &ev) < 0) {
            fatal("epoll_ctl");
        }
    }

    void accept_all() {
        for (;;) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                // EAGAIN: done. EMFILE and the like: try again on the next
                // wake-up (level-triggered, so it may spin; bench-only).
                return;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto index = static_cast<std::size_t>(fd);
            if (index >= conns_.size()) {
                conns_.resize(index + 1);
            }
            auto conn = std::make_unique<Conn>();
            conn->fd = fd;
            conn->buf = std::make_unique_for_overwrite<char[]>(buffer_size_);
            conns_[index] = std::move(conn);
            watch(EPOLL_CTL_ADD, fd, EPOLLIN);
        }
    }

    void close_conn(Conn& conn) {
        ::close(conn.fd);  // also removes it from the epoll set
        conns_[static_cast<std::size_t>(conn.fd)].reset();
    }

    // One write of what is pending. False: the connection failed.
    bool write_pending(Conn& conn) {
        ssize_t n = ::write(conn.fd, conn.buf.get() + conn.head, conn.tail - conn.head);
        if (n < 0) {
            return errno == EAGAIN || errno == EINTR;
        }
        conn.head += static_cast<std::size_t>(n);
        if (conn.head == conn.tail) {
            conn.head = conn.tail = 0;
        }
        return true;
    }

    void on_readable(Conn& conn) {
        ssize_t n = ::read(conn.fd, conn.buf.get(), buffer_size_);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                close_conn(conn);
            }
            return;
        }
        if (n == 0) {
            close_conn(conn);  // EOF, and nothing is pending
            return;
        }
        conn.head = 0;
        conn.tail = static_cast<std::size_t>(n);
        if (!write_pending(conn)) {
            close_conn(conn);
        } else if (conn.head < conn.tail) {
            watch(EPOLL_CTL_MOD, conn.fd, EPOLLOUT);  // stop reading until it drains
        }
    }

    void on_writable(Conn& conn) {
        if (!write_pending(conn)) {
            close_conn(conn);
        } else if (conn.head == conn.tail) {
            watch(EPOLL_CTL_MOD, conn.fd, EPOLLIN);
        }
    }

    int epfd_;
    int listen_fd_;
    int signal_fd_;
    std::size_t buffer_size_;
    std::vector<std::unique_ptr<Conn>> conns_;  // indexed by descriptor
};

}  // namespace

int main(int argc, char** argv) {
    const Options opts = parse_args(argc, argv);

    std::signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, nullptr) < 0) {
        fatal("sigprocmask");
    }
    int signal_fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) {
        fatal("signalfd");
    }

    int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) {
        fatal("socket");
    }
    int one = 1;
    if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        fatal("setsockopt SO_REUSEADDR");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(opts.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
        std::fprintf(stderr, "floor_echo: cannot listen on 127.0.0.1:%u: bind: %s\n", opts.port, std::strerror(errno));
        return 1;
    }
    if (listen(listen_fd, kBacklog) < 0) {
        fatal("listen");
    }
    socklen_t len = sizeof addr;
    if (getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
        fatal("getsockname");
    }

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        fatal("epoll_create1");
    }
    for (int fd : {listen_fd, signal_fd}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            fatal("epoll_ctl");
        }
    }

    std::fprintf(stderr, "floor_echo: listening on 127.0.0.1:%u (buffer %zu B, pid %d)\n", ntohs(addr.sin_port),
                 opts.buffer_size, static_cast<int>(getpid()));

    Floor server(epfd, listen_fd, signal_fd, opts.buffer_size);
    server.run();
    server.close_all();
    ::close(listen_fd);
    ::close(signal_fd);
    ::close(epfd);
    return 0;
}
