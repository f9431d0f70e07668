// floor_churn: the floor for echobench's churn (--messages-per-connection 1),
// as floor_echo is the floor for echod. The least a single-threaded TCP
// client on Linux can do to open a connection, echo one message over it and
// close it, C connections at a time:
//
//   socket, connect (nonblocking), epoll_ctl ADD, write the message, read
//   until it is all back (checked byte for byte), shutdown(SHUT_WR), read
//   the server's EOF, close, and at once a new connection in its place.
//
// One epoll loop, edge-triggered so that a connection costs one epoll_ctl
// (registered once for in, out and peer hang-up; close removes it). The
// client sends its FIN first and waits for the server's, as echobench does,
// so TIME_WAIT lands on this side (loopback reuses it: net.ipv4.tcp_tw_reuse).
// No TCP_NODELAY: one write of one message never waits for Nagle.
//
//   floor_churn [-H ADDR] [-p PORT] [-c C] [-s SIZE] [-d SECONDS | -n N] [--warmup SECONDS]
//
// Prints one JSON line on stdout: connections/s over the measured window and
// the counts. Bench-only: built with the project, not installed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/getopt_args.h"
#include "common/parse.h"
#include "floor_args.h"

namespace {

constexpr int kMaxEvents = 1024;
constexpr std::size_t kMaxConnections = 100000;  // echobench's bound
constexpr std::size_t kMaxSize = std::size_t{64} << 20;
constexpr std::size_t kReadChunk = 65536;

struct Options {
    std::string host = "127.0.0.1";
    unsigned port = 7007;
    std::size_t connections = 50;
    std::size_t size = 64;
    double duration_s = 5;
    double warmup_s = 0;
    std::uint64_t count = 0;  // 0: run for duration_s instead
    double timeout_s = 5;
};

// What went wrong, counted; the first failure is also described on stderr.
struct Counts {
    std::uint64_t completed = 0;       // echoed correctly and closed by the server
    std::uint64_t connect_errors = 0;  // socket or connect failed
    std::uint64_t io_errors = 0;       // a read or write failed once connected (a reset)
    std::uint64_t early_eofs = 0;      // the server closed before the whole echo came back
    std::uint64_t mismatches = 0;      // an echoed byte differed, or more came back than was sent
    std::uint64_t timeouts = 0;        // still open when nothing moved for timeout_s

    std::uint64_t failed() const { return connect_errors + io_errors + early_eofs + mismatches + timeouts; }
};

enum class State {
    idle,        // no socket
    connecting,  // connect in progress: the first event says how it went
    echoing,     // writing the message and reading it back
    closing,     // FIN sent, waiting for the server's EOF
};

struct Slot {
    int fd = -1;
    State state = State::idle;
    std::size_t sent = 0;      // bytes of the message written
    std::size_t received = 0;  // bytes of the echo read (and checked)
    std::unique_ptr<unsigned char[]> message;
};

[[noreturn]] void fatal(const char* what) {
    std::fprintf(stderr, "floor_churn: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

double now_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Each connection's message is its own: a splitmix64 stream from a seed
// that is itself the hash of the connection's serial number (seeding with
// the serial alone would make one message the next one shifted by 8 bytes),
// so a byte that went to the wrong connection, or a stale one, differs.
void fill_message(unsigned char* out, std::size_t size, std::uint64_t serial) {
    std::uint64_t state = splitmix64(serial);
    for (std::size_t i = 0; i < size; i += 8) {
        const std::uint64_t word = splitmix64(state);
        std::memcpy(out + i, &word, size - i < 8 ? size - i : 8);
    }
}

constexpr const char* kUsage =
    "Usage: floor_churn [-H ADDR] [-p PORT] [-c C] [-s SIZE] [-d SECONDS | -n N] [--warmup SECONDS]\n"
    "\n"
    "The floor for echobench's churn: C connections at a time, each opened, one\n"
    "message echoed (and checked) over it, FIN, the server's EOF, closed, and a\n"
    "new one in its place. One epoll loop. Prints one JSON line.\n"
    "\n"
    "  -H, --host ADDR         IPv4 or IPv6 literal (default 127.0.0.1)\n"
    "  -p, --port PORT         server port (default 7007)\n"
    "  -c, --connections C     connections at a time, 1..100000 (default 50)\n"
    "  -s, --size SIZE         bytes per message, 1B..64MiB, K/KiB/M/MiB allowed (default 64)\n"
    "  -d, --duration SECONDS  measured window, after the warm-up (default 5)\n"
    "  -n, --count N           instead of a duration: N connections in all, then stop\n"
    "      --warmup SECONDS    churn before the window, not counted; not with -n (default 0)\n"
    "      --timeout SECONDS   stop, counting the open connections as timeouts, when no\n"
    "                          connection finished for this long (default 5)\n"
    "  -h, --help              print this help and exit\n"
    "\n"
    "Exit status: 0 when every connection completed cleanly, 1 when one failed\n"
    "(connect, reset, early EOF, a wrong byte, a timeout) or none completed, 2 on\n"
    "bad usage.\n";

Options parse_args(int argc, char** argv) {
    enum { opt_warmup = 256, opt_timeout };
    static const option long_options[] = {
        {"host", required_argument, nullptr, 'H'},
        {"port", required_argument, nullptr, 'p'},
        {"connections", required_argument, nullptr, 'c'},
        {"size", required_argument, nullptr, 's'},
        {"duration", required_argument, nullptr, 'd'},
        {"count", required_argument, nullptr, 'n'},
        {"warmup", required_argument, nullptr, opt_warmup},
        {"timeout", required_argument, nullptr, opt_timeout},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    common::GetoptArgs getopt("floor_churn", std::span<const char* const>(argv, static_cast<std::size_t>(argc)),
                              long_options, ":H:p:c:s:d:n:h");
    Options opts;
    bool duration_given = false;
    bool warmup_given = false;
    auto number = [&](int c, std::uint64_t min, std::uint64_t max) {
        auto parsed = c == 's' ? common::parse_size(optarg, min, max) : common::parse_uint(optarg, min, max);
        if (auto* error = std::get_if<common::ParseError>(&parsed)) {
            floor_args::usage_error(getopt.option_error(c, error->reason));
        }
        return std::get<std::uint64_t>(parsed);
    };
    auto seconds = [&](int c, double min) {
        auto parsed = common::parse_seconds(optarg, min, 1e7);
        if (auto* error = std::get_if<common::ParseError>(&parsed)) {
            floor_args::usage_error(getopt.option_error(c, error->reason));
        }
        return std::get<double>(parsed);
    };
    for (int c; (c = getopt.next()) != -1;) {
        switch (c) {
            case 'H': {
                in6_addr probe{};
                if (inet_pton(AF_INET, optarg, &probe) != 1 && inet_pton(AF_INET6, optarg, &probe) != 1) {
                    floor_args::usage_error(
                        getopt.option_error(c, "'" + common::printable(optarg) + "' is not an IPv4 or IPv6 address"));
                }
                opts.host = optarg;
                break;
            }
            case 'p':
                opts.port = static_cast<unsigned>(number(c, 1, 65535));
                break;
            case 'c':
                opts.connections = static_cast<std::size_t>(number(c, 1, kMaxConnections));
                break;
            case 's':
                opts.size = static_cast<std::size_t>(number(c, 1, kMaxSize));
                break;
            case 'd':
                opts.duration_s = seconds(c, 0.001);
                duration_given = true;
                break;
            case 'n':
                opts.count = number(c, 1, UINT64_MAX / 2);
                break;
            case opt_warmup:
                opts.warmup_s = seconds(c, 0);
                warmup_given = true;
                break;
            case opt_timeout:
                opts.timeout_s = seconds(c, 0.001);
                break;
            default:
                floor_args::help_or_malformed(getopt, c, kUsage);
        }
    }
    floor_args::reject_stray(getopt);
    if (opts.count != 0 && (duration_given || warmup_given)) {
        floor_args::usage_error(getopt.usage_line("-n counts connections from the start: not with -d or --warmup"));
    }
    return opts;
}

class Churn {
public:
    Churn(const Options& opts, int epfd, const sockaddr_storage& addr, socklen_t addr_len)
        : opts_(opts), epfd_(epfd), addr_(addr), addr_len_(addr_len), slots_(opts.connections) {
        for (Slot& slot : slots_) {
            slot.message = std::make_unique_for_overwrite<unsigned char[]>(opts_.size);
        }
        scratch_ = std::make_unique_for_overwrite<unsigned char[]>(kReadChunk);
    }

    // Runs the churn; returns the measured window's length in seconds.
    double run() {
        const double start = now_s();
        const double window_start = start + opts_.warmup_s;
        // The window is as long as asked from when the loop saw it begin.
        double end = window_start + opts_.duration_s;
        bool in_window = opts_.count != 0 || opts_.warmup_s == 0;
        double measured_from = start;
        now_ = last_progress_ = start;
        for (Slot& slot : slots_) {
            open(slot);
        }
        std::array<epoll_event, kMaxEvents> events{};
        for (;;) {
            const double now = now_s();
            now_ = now;
            // Slots whose socket or connect failed at once, tried again here
            // rather than from open() itself, which would recurse.
            retry_.swap(retrying_);
            for (Slot* slot : retrying_) {
                open(*slot);
            }
            retrying_.clear();
            if (!in_window && now >= window_start) {
                in_window = true;
                measured_from = now;
                end = now + opts_.duration_s;
                completed_before_window_ = counts_.completed;
            }
            if (opts_.count == 0 ? now >= end : open_ == 0 && retry_.empty()) {
                return now - measured_from;
            }
            if (now - last_progress_ >= opts_.timeout_s) {
                counts_.timeouts += open_;
                note_failure("no connection finished for %.3g s", opts_.timeout_s);
                return now - measured_from;
            }
            // Wake up for the next deadline: the window's edges, or the stall check.
            double next = last_progress_ + opts_.timeout_s;
            if (opts_.count == 0) {
                next = std::min(next, in_window ? end : window_start);
            }
            const int wait_ms = retry_.empty() ? static_cast<int>((next - now) * 1000) + 1 : 0;
            const int n = epoll_wait(epfd_, events.data(), kMaxEvents, wait_ms);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                fatal("epoll_wait");
            }
            for (int i = 0; i < n; ++i) {
                const epoll_event& ev = events[static_cast<std::size_t>(i)];
                on_event(*static_cast<Slot*>(ev.data.ptr), ev.events);
            }
        }
    }

    const Counts& counts() const { return counts_; }
    std::uint64_t completed_in_window() const { return counts_.completed - completed_before_window_; }
    const std::string& first_failure() const { return first_failure_; }

private:
    void open(Slot& slot) {
        if (opts_.count != 0 && started_ >= opts_.count) {
            return;
        }
        const std::uint64_t serial = started_++;
        fill_message(slot.message.get(), opts_.size, serial);
        slot.sent = slot.received = 0;
        slot.fd = socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (slot.fd < 0) {
            failed_at_once(slot, "socket");
            return;
        }
        // On loopback connect may already know the outcome (0 or, say,
        // ECONNREFUSED); 0 and EINPROGRESS both end in the first event.
        if (connect(slot.fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_) < 0 && errno != EINPROGRESS) {
            failed_at_once(slot, "connect");
            return;
        }
        ++open_;
        slot.state = State::connecting;
        // Edge-triggered: connected, echo readable, EOF: each is an edge on
        // this one registration. Added after connect, so an edge that came
        // before is reported at once.
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = &slot;
        if (epoll_ctl(epfd_, EPOLL_CTL_ADD, slot.fd, &ev) < 0) {
            fatal("epoll_ctl");
        }
    }

    // Closes the slot's socket and opens the next connection in its place.
    void finish(Slot& slot) {
        ::close(slot.fd);  // also removes it from the epoll set
        slot.fd = -1;
        slot.state = State::idle;
        --open_;
        last_progress_ = now_;
        open(slot);
    }

    void fail(Slot& slot, std::uint64_t& counter, const char* what) {
        ++counter;
        note_failure("%s: %s", what, std::strerror(errno));
        finish(slot);
    }

    // socket or connect failed before the slot was registered.
    void failed_at_once(Slot& slot, const char* what) {
        ++counts_.connect_errors;
        note_failure("%s: %s", what, std::strerror(errno));
        if (slot.fd >= 0) {
            ::close(slot.fd);
            slot.fd = -1;
        }
        slot.state = State::idle;
        last_progress_ = now_;
        retry_.push_back(&slot);
    }

    template <typename... Args>
    void note_failure(const char* format, Args... args) {
        if (first_failure_.empty()) {
            std::array<char, 160> text{};
            std::snprintf(text.data(), text.size(), format, args...);
            first_failure_ = text.data();
        }
    }

    void on_event(Slot& slot, std::uint32_t events) {
        switch (slot.state) {
            case State::connecting:
                if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
                    int error = 0;
                    socklen_t len = sizeof error;
                    getsockopt(slot.fd, SOL_SOCKET, SO_ERROR, &error, &len);
                    errno = error;
                    fail(slot, counts_.connect_errors, "connect");
                    return;
                }
                slot.state = State::echoing;
                [[fallthrough]];
            case State::echoing:
                echo(slot, events);
                return;
            case State::closing:
                read_eof(slot);
                return;
            case State::idle:
                return;
        }
    }

    void echo(Slot& slot, std::uint32_t events) {
        if (slot.sent < opts_.size) {
            const ssize_t n = ::write(slot.fd, slot.message.get() + slot.sent, opts_.size - slot.sent);
            if (n < 0 && errno != EAGAIN) {
                fail(slot, counts_.io_errors, "write");
                return;
            }
            slot.sent += n > 0 ? static_cast<std::size_t>(n) : 0;
        }
        // Edge-triggered: read until the echo is complete or the socket is
        // empty, or no edge will come for what is left.
        while (slot.received < slot.sent) {
            const ssize_t n = ::read(slot.fd, scratch_.get(), kReadChunk);
            if (n < 0) {
                if (errno == EAGAIN) {
                    return;
                }
                fail(slot, counts_.io_errors, "read");
                return;
            }
            if (n == 0) {
                errno = 0;
                ++counts_.early_eofs;
                note_failure("EOF after %zu of %zu bytes echoed", slot.received, opts_.size);
                finish(slot);
                return;
            }
            const auto got = static_cast<std::size_t>(n);
            if (got > slot.sent - slot.received ||
                std::memcmp(scratch_.get(), slot.message.get() + slot.received, got) != 0) {
                ++counts_.mismatches;
                note_failure("echoed bytes differ from those sent (at byte %zu of %zu)", slot.received, opts_.size);
                finish(slot);
                return;
            }
            slot.received += got;
        }
        if (slot.received < opts_.size) {
            return;  // more to write: the next EPOLLOUT edge
        }
        if (shutdown(slot.fd, SHUT_WR) < 0) {
            fail(slot, counts_.io_errors, "shutdown");
            return;
        }
        slot.state = State::closing;
        // An EOF that came before this event was reported is in its bits;
        // one that comes later is a new edge.
        if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
            read_eof(slot);
        }
    }

    void read_eof(Slot& slot) {
        const ssize_t n = ::read(slot.fd, scratch_.get(), kReadChunk);
        if (n == 0) {
            ++counts_.completed;
            finish(slot);
        } else if (n > 0) {
            ++counts_.mismatches;
            note_failure("%zd bytes more than the %zu sent came back", n, opts_.size);
            finish(slot);
        } else if (errno != EAGAIN) {
            fail(slot, counts_.io_errors, "read");
        }
    }

    const Options& opts_;
    int epfd_;
    sockaddr_storage addr_;
    socklen_t addr_len_;
    std::vector<Slot> slots_;
    std::unique_ptr<unsigned char[]> scratch_;  // every read lands here, then is compared
    Counts counts_;
    std::uint64_t started_ = 0;  // connections opened (or tried): the next one's serial
    std::uint64_t open_ = 0;     // slots with a socket
    std::uint64_t completed_before_window_ = 0;
    double now_ = 0;               // the loop's clock, read once per wake-up
    double last_progress_ = 0;     // when a connection last finished, well or not
    std::vector<Slot*> retry_;     // to open again on the next turn of the loop
    std::vector<Slot*> retrying_;  // the ones being opened again now
    std::string first_failure_;
};

int run(int argc, char** argv) {
    const Options opts = parse_args(argc, argv);
    std::signal(SIGPIPE, SIG_IGN);

    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (inet_pton(AF_INET, opts.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(opts.port));
        addr_len = sizeof *v4;
    } else {
        inet_pton(AF_INET6, opts.host.c_str(), &v6->sin6_addr);  // checked in parse_args
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(opts.port));
        addr_len = sizeof *v6;
    }

    const int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        fatal("epoll_create1");
    }
    Churn churn(opts, epfd, addr, addr_len);
    const double seconds = churn.run();
    const Counts& c = churn.counts();
    const std::uint64_t completed = churn.completed_in_window();
    const double rate = seconds > 0 ? static_cast<double>(completed) / seconds : 0;
    // Still-open connections are abandoned with the process (a reset each).
    std::printf(
        "{\"host\": \"%s\", \"port\": %u, \"connections\": %zu, \"size\": %zu, \"warmup\": %.3f, "
        "\"seconds\": %.6f, \"completed\": %llu, \"connections_per_sec\": %.1f, \"connect_errors\": %llu, "
        "\"io_errors\": %llu, \"early_eofs\": %llu, \"mismatches\": %llu, \"timeouts\": %llu}\n",
        opts.host.c_str(), opts.port, opts.connections, opts.size, opts.warmup_s, seconds,
        static_cast<unsigned long long>(completed), rate, static_cast<unsigned long long>(c.connect_errors),
        static_cast<unsigned long long>(c.io_errors), static_cast<unsigned long long>(c.early_eofs),
        static_cast<unsigned long long>(c.mismatches), static_cast<unsigned long long>(c.timeouts));
    if (!churn.first_failure().empty()) {
        std::fprintf(stderr, "floor_churn: %llu connection(s) failed; the first: %s\n",
                     static_cast<unsigned long long>(c.failed()), churn.first_failure().c_str());
    }
    if (c.failed() != 0 || completed == 0) {
        if (completed == 0) {
            std::fprintf(stderr, "floor_churn: no connection completed\n");
        }
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {  // std::bad_alloc, in practice
        std::fprintf(stderr, "floor_churn: %s\n", e.what());
        return 1;
    }
}
