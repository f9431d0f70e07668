// --ping: like ping(8), over one connection (TCP or Unix socket) to an echo server.
#include "echobench/modes/ping.h"
#include "common/address.h"
#include "common/parse.h"
#include "common/uv_owner.h"
#include "common/uv_socket.h"
#include "echobench/load/pattern.h"

#include <uv.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <vector>

namespace echobench {
namespace {

// Messages a slow server may owe before ping stops sending more: enough for
// a long stall at a short interval, bounded so memory is.
constexpr std::uint32_t ping_slots = 64;

class PingSession {
public:
    explicit PingSession(const BenchConfig& config)
        : config_(config),
          target_(common::format_address(config.host, config.port)),
          pattern_(config.size),
          checker_(pattern_, 0, config.verify),
          send_buffer_(ping_slots * config.size),
          sent_at_ns_(ping_slots, 0),
          writes_(ping_slots) {}
    PingSession(const PingSession&) = delete;
    PingSession& operator=(const PingSession&) = delete;

    int run();

private:
    static void after_connect(uv_connect_t* req, int status);
    static void on_interval(uv_timer_t* handle);
    static void on_deadline(uv_timer_t* handle);
    static void on_signal(uv_signal_t* handle, int signum);
    static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void after_write(uv_write_t* req, int status);
    static void on_close(uv_handle_t*) {}

    void send_one();
    void handle_read(ssize_t nread, const uv_buf_t* buf);
    void fail(std::string message);
    void finish();
    void wait_for_replies();
    std::byte* slot(std::uint64_t seq) { return send_buffer_.data() + (seq % ping_slots) * config_.size; }

    uv_loop_t loop_{};
    common::StreamSocket socket_{};  // TCP or Unix
    uv_connect_t connect_req_{};
    uv_timer_t interval_{};  // one message per tick
    uv_timer_t deadline_{};  // --count sent: how long to wait for the last replies
    uv_signal_t sigint_{};
    uv_signal_t sigterm_{};
    const BenchConfig& config_;
    std::string target_;
    Pattern pattern_;
    StreamChecker checker_;
    std::vector<std::byte> send_buffer_;     // ping_slots messages
    std::vector<std::uint64_t> sent_at_ns_;  // per slot
    std::vector<uv_write_t> writes_;         // per slot
    std::vector<char> read_buffer_ = std::vector<char>(64 * common::KiB);
    std::uint64_t sent_ = 0;
    std::uint64_t written_ = 0;
    std::uint64_t echoed_ = 0;  // replies that matched
    std::uint64_t mismatched_ = 0;
    std::uint64_t start_ns_ = 0;
    double rtt_min_ = 0, rtt_max_ = 0, rtt_sum_ = 0, rtt_sum_sq_ = 0;  // ms
    bool connected_ = false;
    bool finished_ = false;
    std::string error_;  // a connect failure or broken connection
};

int PingSession::run() {
    if (int err = uv_loop_init(&loop_); err != 0) {
        fmt::print(stderr, "echobench: uv_loop_init: {}\n", uv_strerror(err));
        return 1;
    }
    sockaddr_storage address{};
    common::make_address(config_.host, config_.port, address);  // a literal, checked by the parser
    common::init_stream_socket(&loop_, socket_, address.ss_family == AF_UNIX);
    uv_timer_init(&loop_, &interval_);
    uv_timer_init(&loop_, &deadline_);
    uv_signal_init(&loop_, &sigint_);
    uv_signal_init(&loop_, &sigterm_);
    for (uv_handle_t* h : {common::as_handle(socket_), reinterpret_cast<uv_handle_t*>(&interval_),
                           reinterpret_cast<uv_handle_t*>(&deadline_), reinterpret_cast<uv_handle_t*>(&sigint_),
                           reinterpret_cast<uv_handle_t*>(&sigterm_)}) {
        h->data = this;
    }
    connect_req_.data = this;
    for (uv_write_t& w : writes_) {
        w.data = this;
    }
    uv_signal_start(&sigint_, on_signal, SIGINT);
    uv_signal_start(&sigterm_, on_signal, SIGTERM);
    start_ns_ = uv_hrtime();
    if (int err =
            common::connect_stream(&connect_req_, socket_, reinterpret_cast<const sockaddr*>(&address), after_connect);
        err != 0) {
        fail(fmt::format("connect: {}", uv_strerror(err)));
    } else {
        uv_timer_start(&deadline_, on_deadline, static_cast<std::uint64_t>(config_.timeout_s * 1000), 0);
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    int status = uv_loop_close(&loop_) == 0 ? 0 : 1;

    if (!connected_) {
        fmt::print(stderr, "echobench: {}: {}\n", target_, error_);
        return 1;
    }
    double elapsed_ms = static_cast<double>(uv_hrtime() - start_ns_) / 1e6;
    std::uint64_t lost = sent_ - echoed_ - mismatched_;
    fmt::print("\n--- {} echobench ping statistics ---\n", target_);
    fmt::print("{} messages sent, {} echoed, {:.0f}% lost, {} mismatched, time {:.0f}ms\n", sent_, echoed_,
               sent_ == 0 ? 0.0 : 100.0 * static_cast<double>(lost) / static_cast<double>(sent_), mismatched_,
               elapsed_ms);
    if (echoed_ > 0) {
        double n = static_cast<double>(echoed_);
        double avg = rtt_sum_ / n;
        double mdev = std::sqrt(std::max(0.0, rtt_sum_sq_ / n - avg * avg));
        fmt::print("rtt min/avg/max/mdev = {:.3f}/{:.3f}/{:.3f}/{:.3f} ms\n", rtt_min_, avg, rtt_max_, mdev);
    }
    std::fflush(stdout);
    if (!error_.empty()) {
        fmt::print(stderr, "echobench: {}: {}\n", target_, error_);
    }
    bool clean = error_.empty() && mismatched_ == 0 && lost == 0 && sent_ > 0;
    return clean ? status : 1;
}

void PingSession::after_connect(uv_connect_t* req, int status) {
    PingSession* self = common::owner_of<PingSession>(req);
    if (status == UV_ECANCELED) {
        return;
    }
    if (status != 0) {
        self->fail(fmt::format("connect: {}", uv_strerror(status)));
        return;
    }
    self->connected_ = true;
    uv_timer_stop(&self->deadline_);  // it was the connect timeout
    common::set_nodelay(self->socket_);
    uv_read_start(common::as_stream(self->socket_), on_alloc, on_read);
    fmt::print("ECHOBENCH {}: {}-byte messages\n", self->target_, self->config_.size);
    std::fflush(stdout);
    // uv timers count whole milliseconds.
    auto every = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(self->config_.interval_s * 1000)));
    uv_timer_start(&self->interval_, on_interval, 0, every);
}

void PingSession::on_interval(uv_timer_t* handle) {
    common::owner_of<PingSession>(handle)->send_one();
}

void PingSession::send_one() {
    if (config_.count > 0 && sent_ >= config_.count) {
        wait_for_replies();
        return;
    }
    // The slot of message sent_ - ping_slots must be echoed and written.
    if (sent_ >= checker_.sequence() + ping_slots || sent_ >= written_ + ping_slots) {
        return;  // the server owes too much already; try at the next tick
    }
    std::uint64_t seq = sent_;
    pattern_.fill(0, seq, {slot(seq), config_.size});
    sent_at_ns_[seq % ping_slots] = uv_hrtime();
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(slot(seq)), static_cast<unsigned>(config_.size));
    if (int err = uv_write(&writes_[seq % ping_slots], common::as_stream(socket_), &buf, 1, after_write); err != 0) {
        fail(fmt::format("write: {}", uv_strerror(err)));
        return;
    }
    ++sent_;
    if (config_.count > 0 && sent_ >= config_.count) {
        wait_for_replies();
    }
}

void PingSession::wait_for_replies() {
    uv_timer_stop(&interval_);
    if (checker_.sequence() >= sent_) {
        finish();
    } else if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&deadline_))) {
        // As ping -c does: wait a while for the last replies, then count them lost.
        auto wait = static_cast<std::uint64_t>(std::max(config_.timeout_s, 2 * config_.interval_s) * 1000);
        uv_timer_start(&deadline_, on_deadline, wait, 0);
    }
}

void PingSession::on_deadline(uv_timer_t* handle) {
    PingSession* self = common::owner_of<PingSession>(handle);
    if (!self->connected_) {
        self->fail("connect: timed out");
    } else {
        self->finish();
    }
}

void PingSession::after_write(uv_write_t* req, int status) {
    PingSession* self = common::owner_of<PingSession>(req);
    if (status == UV_ECANCELED || self->finished_) {
        return;
    }
    if (status != 0) {
        self->fail(fmt::format("write: {}", uv_strerror(status)));
        return;
    }
    ++self->written_;  // writes on a stream complete in order
}

void PingSession::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    PingSession* self = common::owner_of<PingSession>(handle);
    *buf = uv_buf_init(self->read_buffer_.data(), static_cast<unsigned>(self->read_buffer_.size()));
}

void PingSession::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    common::owner_of<PingSession>(stream)->handle_read(nread, buf);
}

void PingSession::handle_read(ssize_t nread, const uv_buf_t* buf) {
    if (nread == 0 || finished_) {
        return;
    }
    if (nread < 0) {
        fail(nread == UV_EOF ? std::string("connection closed by the server")
                             : fmt::format("read: {}", uv_strerror(static_cast<int>(nread))));
        return;
    }
    const std::uint64_t now = uv_hrtime();
    std::span<const std::byte> data(reinterpret_cast<const std::byte*>(buf->base), static_cast<std::size_t>(nread));
    while (!data.empty()) {
        if (checker_.sequence() >= sent_) {
            ++mismatched_;
            fail(fmt::format("{} bytes arrived beyond those sent", data.size()));
            return;
        }
        StreamChecker::Step step = checker_.feed(data);
        data = data.subspan(step.consumed);
        if (!step.complete) {
            continue;
        }
        std::uint64_t seq = checker_.sequence() - 1;
        double rtt_ms = static_cast<double>(now - sent_at_ns_[seq % ping_slots]) / 1e6;
        if (step.mismatch) {
            ++mismatched_;
        } else {
            rtt_min_ = echoed_ == 0 ? rtt_ms : std::min(rtt_min_, rtt_ms);
            rtt_max_ = std::max(rtt_max_, rtt_ms);
            rtt_sum_ += rtt_ms;
            rtt_sum_sq_ += rtt_ms * rtt_ms;
            ++echoed_;
        }
        fmt::print("{} bytes from {}: seq={} time={:.3f} ms{}\n", config_.size, target_, seq + 1, rtt_ms,
                   step.mismatch ? " (MISMATCH: echo differs from what was sent)" : "");
    }
    std::fflush(stdout);
    if (config_.count > 0 && sent_ >= config_.count && checker_.sequence() >= sent_) {
        finish();
    }
}

void PingSession::fail(std::string message) {
    if (error_.empty()) {
        error_ = std::move(message);
    }
    finish();
}

void PingSession::on_signal(uv_signal_t* handle, int) {
    common::owner_of<PingSession>(handle)->finish();
}

void PingSession::finish() {
    if (finished_) {
        return;
    }
    finished_ = true;
    for (uv_handle_t* h : {common::as_handle(socket_), reinterpret_cast<uv_handle_t*>(&interval_),
                           reinterpret_cast<uv_handle_t*>(&deadline_), reinterpret_cast<uv_handle_t*>(&sigint_),
                           reinterpret_cast<uv_handle_t*>(&sigterm_)}) {
        uv_close(h, on_close);
    }
}

}  // namespace

int run_ping(const BenchConfig& config) {
    PingSession session(config);
    return session.run();
}

}  // namespace echobench
