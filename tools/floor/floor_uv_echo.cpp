// floor_uv_echo: libuv's own floor for echod's benchmarks. The least a
// single-threaded TCP echo server on libuv does, in each of the two ways
// libuv offers to read a socket. tools/bench --callgrind counts it beside
// echod and floor_echo (the epoll floor), which splits echod's instructions
// per echo into what libuv's loop and I/O cost and what echod's own work
// costs.
//
//   floor_uv_echo [--port N] [--buffer-size BYTES] [--io stream|poll]
//
// --io stream (the default) reads with libuv's stream API, as echod did
// until it moved to a uv_poll_t: a uv_tcp_t, uv_read_start into the
// connection's buffer (the alloc callback), and the read callback writes
// the bytes straight back with write(2). A short
// write keeps the unwritten tail, stops reading and hands the tail to
// uv_write; reading resumes once it is sent.
// --io poll: the socket (the listener too) is watched by a uv_poll_t, and
// the echo is read(2) and write(2) by hand, as echod does, and as
// floor_echo does on its own epoll loop. A short write stops reading and
// waits for UV_WRITABLE.
//
// Both: one fixed buffer per connection of echod's ring size, TCP_NODELAY on
// accepted sockets as echod's, EOF or an error closes the connection (there
// is nothing left to flush then: reading only ever starts with an empty
// buffer), SIGINT/SIGTERM close everything and exit 0. No logging, no
// limits, no timers. Bench-only: it is not installed and it is no daemon.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "common/getopt_args.h"
#include "common/parse.h"
#include "floor_args.h"

namespace {

constexpr std::uint64_t kMinBuffer = 16;
constexpr std::uint64_t kMaxBuffer = std::uint64_t{256} << 20;
constexpr int kBacklog = 511;  // echod's default

constexpr const char* kUsage =
    "usage: floor_uv_echo [--port N] [--buffer-size BYTES] [--io stream|poll]\n"
    "A minimal libuv TCP echo server on 127.0.0.1: libuv's floor for echod's benchmarks.\n"
    "  -p, --port N             TCP port; 0 lets the kernel pick one (default 0)\n"
    "  -b, --buffer-size BYTES  per-connection buffer, 16..256MiB, K/KiB/M/MiB allowed (default 65536)\n"
    "      --io stream|poll     stream: uv_read_start and a write(2) straight back;\n"
    "                           poll: uv_poll_t and read(2)/write(2) by hand (default stream)\n";

enum class Io { stream, poll };

struct Options {
    unsigned port = 0;
    std::size_t buffer_size = 65536;
    Io io = Io::stream;
};

[[noreturn]] void fatal(const char* what, int err) {
    std::fprintf(stderr, "floor_uv_echo: %s: %s\n", what, uv_strerror(err));
    std::exit(1);
}

Options parse_args(int argc, char** argv) {
    enum { opt_io = 256 };
    static const option long_options[] = {
        {"port", required_argument, nullptr, 'p'},
        {"buffer-size", required_argument, nullptr, 'b'},
        {"io", required_argument, nullptr, opt_io},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    common::GetoptArgs getopt("floor_uv_echo", std::span<const char* const>(argv, static_cast<std::size_t>(argc)),
                              long_options, ":p:b:h");
    Options opts;
    for (int c; (c = getopt.next()) != -1;) {
        switch (c) {
            case 'p':
            case 'b': {
                auto parsed = c == 'b' ? common::parse_size(optarg, kMinBuffer, kMaxBuffer)
                                       : common::parse_uint(optarg, 0, 65535);
                if (auto* error = std::get_if<common::ParseError>(&parsed)) {
                    floor_args::usage_error(getopt.option_error(c, error->reason));
                }
                auto value = std::get<std::uint64_t>(parsed);
                if (c == 'p') {
                    opts.port = static_cast<unsigned>(value);
                } else {
                    opts.buffer_size = static_cast<std::size_t>(value);
                }
                break;
            }
            case opt_io:
                if (std::string_view(optarg) == "stream") {
                    opts.io = Io::stream;
                } else if (std::string_view(optarg) == "poll") {
                    opts.io = Io::poll;
                } else {
                    floor_args::usage_error(
                        getopt.option_error(c, "'" + common::printable(optarg) + "' is not one of stream, poll"));
                }
                break;
            default:
                floor_args::help_or_malformed(getopt, c, kUsage);
        }
    }
    floor_args::reject_stray(getopt);
    return opts;
}

std::size_t g_buffer_size = 65536;

// One connection. The handle comes first, so a uv_handle_t* is the Conn*.
// Either the tcp handle (--io stream) or the poll handle (--io poll) is
// initialised, never both; its data points back here (the listener's and
// the signals' data is null); freed in the close callback.
struct Conn {
    union {
        uv_tcp_t tcp;
        uv_poll_t poll;
    };
    int fd = -1;  // --io poll: ours to close; --io stream: libuv's
    std::unique_ptr<char[]> buf = std::make_unique_for_overwrite<char[]>(g_buffer_size);
    std::size_t head = 0;  // first byte not yet written back
    std::size_t tail = 0;  // end of the bytes read
    uv_write_t write_req{};

    Conn() {}  // NOLINT(modernize-use-equals-default): the union has no default member
};

void on_conn_closed(uv_handle_t* handle) {
    auto* conn = reinterpret_cast<Conn*>(handle);
    if (handle->type == UV_POLL) {
        ::close(conn->fd);
    }
    delete conn;
}

void close_conn(Conn* conn) {
    auto* handle = reinterpret_cast<uv_handle_t*>(conn);
    if (!uv_is_closing(handle)) {
        uv_close(handle, on_conn_closed);
    }
}

// write(2) what is between head and tail. False: the socket failed.
bool write_pending(Conn* conn) {
    while (conn->head < conn->tail) {
        ssize_t n = ::write(conn->fd, conn->buf.get() + conn->head, conn->tail - conn->head);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        conn->head += static_cast<std::size_t>(n);
    }
    conn->head = conn->tail = 0;
    return true;
}

// --io stream

void on_stream_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

void on_stream_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
    auto* conn = reinterpret_cast<Conn*>(handle);
    *buf = uv_buf_init(conn->buf.get(), static_cast<unsigned int>(g_buffer_size));
}

void on_stream_written(uv_write_t* req, int status) {
    auto* conn = static_cast<Conn*>(req->data);
    if (status < 0) {
        close_conn(conn);
        return;
    }
    conn->head = conn->tail = 0;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp), on_stream_alloc, on_stream_read);
}

void on_stream_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
    auto* conn = reinterpret_cast<Conn*>(stream);
    if (nread < 0) {
        close_conn(conn);
        return;
    }
    conn->tail = static_cast<std::size_t>(nread);
    if (!write_pending(conn)) {
        close_conn(conn);
        return;
    }
    if (conn->head < conn->tail) {
        uv_read_stop(stream);
        uv_buf_t rest = uv_buf_init(conn->buf.get() + conn->head, static_cast<unsigned int>(conn->tail - conn->head));
        conn->write_req.data = conn;
        if (uv_write(&conn->write_req, stream, &rest, 1, on_stream_written) < 0) {
            close_conn(conn);
        }
    }
}

void on_stream_connection(uv_stream_t* server, int status) {
    if (status < 0) {
        return;
    }
    auto* conn = new Conn;
    uv_tcp_init(server->loop, &conn->tcp);
    conn->tcp.data = conn;
    uv_os_fd_t fd = -1;
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&conn->tcp)) < 0 ||
        uv_fileno(reinterpret_cast<uv_handle_t*>(&conn->tcp), &fd) < 0) {
        close_conn(conn);
        return;
    }
    conn->fd = fd;
    uv_tcp_nodelay(&conn->tcp, 1);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp), on_stream_alloc, on_stream_read);
}

// --io poll

void on_poll_io(uv_poll_t* poll, int status, int events) {
    auto* conn = reinterpret_cast<Conn*>(poll);
    if (status < 0) {
        close_conn(conn);
        return;
    }
    if ((events & UV_WRITABLE) != 0) {
        if (!write_pending(conn)) {
            close_conn(conn);
        } else if (conn->head == conn->tail) {
            uv_poll_start(poll, UV_READABLE, on_poll_io);
        }
        return;
    }
    ssize_t n = 0;
    do {
        n = ::read(conn->fd, conn->buf.get(), g_buffer_size);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
    }
    if (n <= 0) {
        close_conn(conn);
        return;
    }
    conn->tail = static_cast<std::size_t>(n);
    if (!write_pending(conn)) {
        close_conn(conn);
    } else if (conn->head < conn->tail) {
        uv_poll_start(poll, UV_WRITABLE, on_poll_io);  // stop reading until it drains
    }
}

void on_poll_listener(uv_poll_t* listener, int status, int /*events*/) {
    if (status < 0) {
        return;
    }
    uv_os_fd_t listen_fd = -1;
    uv_fileno(reinterpret_cast<uv_handle_t*>(listener), &listen_fd);
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        return;  // EAGAIN, or out of descriptors: the next readiness tries again
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* conn = new Conn;
    conn->fd = fd;
    if (uv_poll_init_socket(listener->loop, &conn->poll, fd) < 0) {
        ::close(fd);
        delete conn;
        return;
    }
    conn->poll.data = conn;
    uv_poll_start(&conn->poll, UV_READABLE, on_poll_io);
}

void on_stop_signal(uv_signal_t* signal, int /*signum*/) {
    uv_walk(
        signal->loop,
        [](uv_handle_t* handle, void* /*arg*/) {
            if (!uv_is_closing(handle)) {
                uv_close(handle, handle->data != nullptr ? on_conn_closed : nullptr);
            }
        },
        nullptr);
}

int run(int argc, char** argv) {
    const Options opts = parse_args(argc, argv);
    g_buffer_size = opts.buffer_size;
    std::signal(SIGPIPE, SIG_IGN);

    uv_loop_t* loop = uv_default_loop();
    int listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) {
        fatal("socket", -errno);
    }
    int one = 1;
    if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        fatal("setsockopt SO_REUSEADDR", -errno);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(opts.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
        std::fprintf(stderr, "floor_uv_echo: cannot listen on 127.0.0.1:%u: bind: %s\n", opts.port,
                     std::strerror(errno));
        return 1;
    }
    socklen_t len = sizeof addr;
    if (getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
        fatal("getsockname", -errno);
    }

    // The listener's handle and the signals' have null data: not a
    // connection, for the walk that closes everything.
    uv_tcp_t tcp_listener;
    uv_poll_t poll_listener;
    int err = 0;
    if (opts.io == Io::stream) {
        uv_tcp_init(loop, &tcp_listener);
        tcp_listener.data = nullptr;
        err = uv_tcp_open(&tcp_listener, listen_fd);
        if (err == 0) {
            err = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_listener), kBacklog, on_stream_connection);
        }
    } else {
        if (::listen(listen_fd, kBacklog) < 0) {
            fatal("listen", -errno);
        }
        uv_poll_init_socket(loop, &poll_listener, listen_fd);
        poll_listener.data = nullptr;
        err = uv_poll_start(&poll_listener, UV_READABLE, on_poll_listener);
    }
    if (err < 0) {
        fatal("listen", err);
    }
    uv_signal_t sigint;
    uv_signal_t sigterm;
    for (auto [handle, signum] : {std::pair{&sigint, SIGINT}, std::pair{&sigterm, SIGTERM}}) {
        uv_signal_init(loop, handle);
        handle->data = nullptr;
        uv_signal_start(handle, on_stop_signal, signum);
    }

    std::fprintf(stderr, "floor_uv_echo: listening on 127.0.0.1:%u (--io %s, buffer %zu B, pid %d)\n",
                 ntohs(addr.sin_port), opts.io == Io::stream ? "stream" : "poll", opts.buffer_size,
                 static_cast<int>(getpid()));
    uv_run(loop, UV_RUN_DEFAULT);
    if (opts.io == Io::poll) {
        ::close(listen_fd);  // uv_tcp_open's listener is closed by its handle
    }
    return uv_loop_close(loop) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    // std::bad_alloc, in practice. One thrown in a libuv callback (a new
    // connection's buffer) cannot unwind through libuv's C frames: it ends
    // the process, which for a bench-only server is the honest outcome.
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "floor_uv_echo: %s\n", e.what());
        return 1;
    }
}
