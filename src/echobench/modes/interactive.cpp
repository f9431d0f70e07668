// --interactive: stdin to the server, echoes to stdout, like a netcat that
// also checks what comes back.
#include "echobench/modes/interactive.h"
#include "common/address.h"
#include "common/file.h"
#include "common/parse.h"
#include "common/uv_owner.h"
#include "common/uv_socket.h"

#include <uv.h>

#include <fmt/format.h>

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <string>
#include <vector>

namespace echobench {
namespace {

// Bytes sent and not yet echoed before we stop reading stdin: a server that
// does not echo must not make us buffer all of stdin.
constexpr std::size_t max_outstanding = common::MiB;
constexpr std::size_t chunk_size = 64 * common::KiB;

class InteractiveSession {
public:
    explicit InteractiveSession(const BenchConfig& config)
        : config_(config), target_(common::format_address(config.host, config.port)) {}
    InteractiveSession(const InteractiveSession&) = delete;
    InteractiveSession& operator=(const InteractiveSession&) = delete;

    int run();

private:
    // One chunk of stdin on its way to the server; freed in after_write.
    struct PendingWrite {
        uv_write_t req{};  // first: after_write casts back
        std::string bytes;
    };

    static void after_connect(uv_connect_t* req, int status);
    static void on_alloc_socket(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_read_socket(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void on_alloc_stdin(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_read_stdin(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void after_file_read(uv_fs_t* req);
    static void after_write(uv_write_t* req, int status);
    static void after_shutdown(uv_shutdown_t* req, int status);
    static void on_deadline(uv_timer_t* handle);
    static void on_signal(uv_signal_t* handle, int signum);
    static void on_close(uv_handle_t*) {}

    void start_stdin();
    void pause_stdin();
    void resume_stdin();
    void read_file_chunk();
    void handle_stdin(const char* data, ssize_t nread);
    void handle_echo(const char* data, std::size_t size);
    void maybe_done();
    void fail(std::string message);
    void finish();
    uv_stream_t* socket() { return common::as_stream(socket_); }

    uv_loop_t loop_{};
    common::StreamSocket socket_{};  // TCP or Unix
    uv_connect_t connect_req_{};
    uv_shutdown_t shutdown_req_{};
    uv_tty_t stdin_tty_{};                 // stdin is a terminal...
    uv_pipe_t stdin_pipe_{};               // ...or a pipe or socket...
    uv_fs_t file_req_{};                   // ...or a file, read with uv_fs_read
    uv_stream_t* stdin_stream_ = nullptr;  // the tty or pipe handle, if any
    uv_timer_t deadline_{};                // connect timeout; after stdin's end, the wait for echoes
    uv_signal_t sigint_{};
    const BenchConfig& config_;
    std::string target_;
    std::vector<char> stdin_buffer_ = std::vector<char>(chunk_size);
    std::vector<char> socket_buffer_ = std::vector<char>(chunk_size);
    std::string outstanding_;  // sent, not yet echoed (verified against the echo)
    std::uint64_t mismatched_ = 0;
    bool connected_ = false;
    bool stdin_eof_ = false;
    bool stdin_paused_ = false;
    bool file_read_pending_ = false;
    bool shutdown_sent_ = false;
    bool finished_ = false;
    std::string error_;
};

int InteractiveSession::run() {
    if (int err = uv_loop_init(&loop_); err != 0) {
        fmt::print(stderr, "echobench: uv_loop_init: {}\n", uv_strerror(err));
        return 1;
    }
    sockaddr_storage address{};
    common::make_address(config_.host, config_.port, address);  // a literal, checked by the parser
    common::init_stream_socket(&loop_, socket_, address.ss_family == AF_UNIX);
    uv_timer_init(&loop_, &deadline_);
    uv_signal_init(&loop_, &sigint_);
    common::as_handle(socket_)->data = this;
    deadline_.data = this;
    sigint_.data = this;
    connect_req_.data = this;
    shutdown_req_.data = this;
    file_req_.data = this;
    uv_signal_start(&sigint_, on_signal, SIGINT);
    if (int err =
            common::connect_stream(&connect_req_, socket_, reinterpret_cast<const sockaddr*>(&address), after_connect);
        err != 0) {
        fail(fmt::format("connect: {}", uv_strerror(err)));
    } else {
        uv_timer_start(&deadline_, on_deadline, static_cast<std::uint64_t>(config_.timeout_s * 1000), 0);
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (file_read_pending_) {
        uv_fs_req_cleanup(&file_req_);
    }
    int status = uv_loop_close(&loop_) == 0 ? 0 : 1;
    if (!error_.empty()) {
        fmt::print(stderr, "echobench: {}: {}\n", target_, error_);
        status = 1;
    }
    if (mismatched_ > 0) {
        fmt::print(stderr, "echobench: {}: {} echoed chunk(s) differed from what was sent\n", target_, mismatched_);
        status = 1;
    }
    return status;
}

void InteractiveSession::after_connect(uv_connect_t* req, int status) {
    auto* self = common::owner_of<InteractiveSession>(req);
    if (status == UV_ECANCELED) {
        return;
    }
    if (status != 0) {
        self->fail(fmt::format("connect: {}", uv_strerror(status)));
        return;
    }
    self->connected_ = true;
    uv_timer_stop(&self->deadline_);
    common::set_nodelay(self->socket_);
    uv_read_start(self->socket(), on_alloc_socket, on_read_socket);
    self->start_stdin();
}

void InteractiveSession::start_stdin() {
    switch (uv_guess_handle(STDIN_FILENO)) {
        case UV_TTY:
            uv_tty_init(&loop_, &stdin_tty_, STDIN_FILENO, 1);
            stdin_stream_ = reinterpret_cast<uv_stream_t*>(&stdin_tty_);
            break;
        case UV_NAMED_PIPE:
        case UV_TCP:
            uv_pipe_init(&loop_, &stdin_pipe_, 0);
            uv_pipe_open(&stdin_pipe_, STDIN_FILENO);
            stdin_stream_ = reinterpret_cast<uv_stream_t*>(&stdin_pipe_);
            break;
        default:
            // A regular file or /dev/null: epoll cannot watch it, so read it
            // through libuv's thread pool instead.
            read_file_chunk();
            return;
    }
    stdin_stream_->data = this;
    uv_read_start(stdin_stream_, on_alloc_stdin, on_read_stdin);
}

void InteractiveSession::read_file_chunk() {
    uv_buf_t buf = uv_buf_init(stdin_buffer_.data(), static_cast<unsigned>(stdin_buffer_.size()));
    file_read_pending_ = true;
    if (int err = uv_fs_read(&loop_, &file_req_, STDIN_FILENO, &buf, 1, -1, after_file_read); err != 0) {
        file_read_pending_ = false;
        fail(fmt::format("reading stdin: {}", uv_strerror(err)));
    }
}

void InteractiveSession::after_file_read(uv_fs_t* req) {
    auto* self = common::owner_of<InteractiveSession>(req);
    auto result = static_cast<ssize_t>(req->result);
    uv_fs_req_cleanup(req);
    self->file_read_pending_ = false;
    if (self->finished_) {
        return;
    }
    self->handle_stdin(self->stdin_buffer_.data(), result == 0 ? static_cast<ssize_t>(UV_EOF) : result);
    if (!self->stdin_eof_ && !self->stdin_paused_ && !self->finished_) {
        self->read_file_chunk();
    }
}

void InteractiveSession::on_alloc_stdin(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    auto* self = common::owner_of<InteractiveSession>(handle);
    *buf = uv_buf_init(self->stdin_buffer_.data(), static_cast<unsigned>(self->stdin_buffer_.size()));
}

void InteractiveSession::on_read_stdin(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    common::owner_of<InteractiveSession>(stream)->handle_stdin(buf->base, nread);
}

void InteractiveSession::handle_stdin(const char* data, ssize_t nread) {
    if (nread == 0 || finished_) {
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            fail(fmt::format("reading stdin: {}", uv_strerror(static_cast<int>(nread))));
            return;
        }
        stdin_eof_ = true;
        if (stdin_stream_ != nullptr) {
            uv_read_stop(stdin_stream_);
        }
        // Tell the server we are done, as nc -N does; echod still sends back
        // everything it received. Queued after the pending writes.
        shutdown_sent_ = true;
        if (int err = uv_shutdown(&shutdown_req_, socket(), after_shutdown); err != 0) {
            fail(fmt::format("shutdown: {}", uv_strerror(err)));
            return;
        }
        uv_timer_start(&deadline_, on_deadline, static_cast<std::uint64_t>(config_.timeout_s * 1000), 0);
        maybe_done();
        return;
    }
    auto* pending = new PendingWrite;
    pending->req.data = this;
    pending->bytes.assign(data, static_cast<std::size_t>(nread));
    if (config_.verify) {
        outstanding_.append(data, static_cast<std::size_t>(nread));
    }
    uv_buf_t buf = uv_buf_init(pending->bytes.data(), static_cast<unsigned>(pending->bytes.size()));
    if (int err = uv_write(&pending->req, socket(), &buf, 1, after_write); err != 0) {
        delete pending;
        fail(fmt::format("write: {}", uv_strerror(err)));
        return;
    }
    if (outstanding_.size() >= max_outstanding) {
        pause_stdin();
    }
}

void InteractiveSession::pause_stdin() {
    stdin_paused_ = true;
    if (stdin_stream_ != nullptr) {
        uv_read_stop(stdin_stream_);
    }
}

void InteractiveSession::resume_stdin() {
    if (!stdin_paused_ || stdin_eof_ || finished_) {
        return;
    }
    stdin_paused_ = false;
    if (stdin_stream_ != nullptr) {
        uv_read_start(stdin_stream_, on_alloc_stdin, on_read_stdin);
    } else if (!file_read_pending_) {
        read_file_chunk();
    }
}

void InteractiveSession::after_write(uv_write_t* req, int status) {
    auto* pending = reinterpret_cast<PendingWrite*>(req);
    auto* self = common::owner_of<InteractiveSession>(req);
    delete pending;
    if (status != 0 && status != UV_ECANCELED) {
        self->fail(fmt::format("write: {}", uv_strerror(status)));
    }
}

void InteractiveSession::after_shutdown(uv_shutdown_t* req, int status) {
    auto* self = common::owner_of<InteractiveSession>(req);
    if (status != 0 && status != UV_ECANCELED) {
        self->fail(fmt::format("shutdown: {}", uv_strerror(status)));
    }
}

void InteractiveSession::on_alloc_socket(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    auto* self = common::owner_of<InteractiveSession>(handle);
    *buf = uv_buf_init(self->socket_buffer_.data(), static_cast<unsigned>(self->socket_buffer_.size()));
}

void InteractiveSession::on_read_socket(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* self = common::owner_of<InteractiveSession>(stream);
    if (nread == 0 || self->finished_) {
        return;
    }
    if (nread == UV_EOF) {
        if (!self->outstanding_.empty()) {
            self->fail(
                fmt::format("connection closed by the server with {} byte(s) not echoed", self->outstanding_.size()));
        } else if (!self->stdin_eof_) {
            self->fail("connection closed by the server");
        } else {
            self->finish();
        }
        return;
    }
    if (nread < 0) {
        self->fail(fmt::format("read: {}", uv_strerror(static_cast<int>(nread))));
        return;
    }
    self->handle_echo(buf->base, static_cast<std::size_t>(nread));
}

void InteractiveSession::handle_echo(const char* data, std::size_t size) {
    if (int err = common::write_all(STDOUT_FILENO, {data, size}); err != 0) {
        fail(fmt::format("writing stdout: {}", std::strerror(err)));
        return;
    }
    if (config_.verify) {
        std::size_t n = std::min(size, outstanding_.size());
        if (n < size || std::memcmp(outstanding_.data(), data, n) != 0) {
            ++mismatched_;
        }
        outstanding_.erase(0, n);
    }
    if (stdin_eof_) {
        // Progress: the wait for the rest starts over.
        uv_timer_start(&deadline_, on_deadline, static_cast<std::uint64_t>(config_.timeout_s * 1000), 0);
    }
    if (outstanding_.size() < max_outstanding / 2) {
        resume_stdin();
    }
    maybe_done();
}

void InteractiveSession::maybe_done() {
    // Without verification we cannot tell what is still owed: wait for the
    // server's EOF (or the timeout) instead.
    if (stdin_eof_ && config_.verify && outstanding_.empty()) {
        finish();
    }
}

void InteractiveSession::on_deadline(uv_timer_t* handle) {
    auto* self = common::owner_of<InteractiveSession>(handle);
    if (!self->connected_) {
        self->fail("connect: timed out");
    } else if (!self->outstanding_.empty()) {
        self->fail(
            fmt::format("{} byte(s) not echoed after {:g} s", self->outstanding_.size(), self->config_.timeout_s));
    } else {
        self->finish();
    }
}

void InteractiveSession::on_signal(uv_signal_t* handle, int) {
    common::owner_of<InteractiveSession>(handle)->finish();
}

void InteractiveSession::fail(std::string message) {
    if (error_.empty()) {
        error_ = std::move(message);
    }
    finish();
}

void InteractiveSession::finish() {
    if (finished_) {
        return;
    }
    finished_ = true;
    uv_close(common::as_handle(socket_), on_close);
    uv_close(reinterpret_cast<uv_handle_t*>(&deadline_), on_close);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), on_close);
    if (stdin_stream_ != nullptr) {
        uv_close(reinterpret_cast<uv_handle_t*>(stdin_stream_), on_close);
    }
    if (file_read_pending_) {
        uv_cancel(reinterpret_cast<uv_req_t*>(&file_req_));
    }
}

}  // namespace

int run_interactive(const BenchConfig& config) {
    InteractiveSession session(config);
    return session.run();
}

}  // namespace echobench
