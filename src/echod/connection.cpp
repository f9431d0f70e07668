#include "echod/connection.h"

#include "common/address.h"
#include "common/log.h"
#include "common/uv_owner.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/sockios.h>  // SIOCOUTQ
#endif

#include <algorithm>
#include <cassert>
#include <cerrno>

namespace echod {
namespace {

// A Unix socket's peer has no address worth showing: who it is instead.
std::string unix_peer_and_local(uv_pipe_t* pipe) {
    uv_os_fd_t fd = -1;
    sockaddr_storage local{};
    socklen_t local_length = sizeof local;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(pipe), &fd) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0) {
        return "?";
    }
    std::string where = common::format_address(reinterpret_cast<sockaddr*>(&local));
#if defined(SO_PEERCRED)
    ucred peer{};
    socklen_t peer_length = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_length) == 0) {
        return fmt::format("pid {} (uid {}) -> {}", peer.pid, peer.uid, where);
    }
#endif
    return fmt::format("a local peer -> {}", where);
}

// The spans as libuv's buffers (on Unix a uv_buf_t is a struct iovec, so
// writev takes them too); returns how many are not empty-tailed: 1 or 2.
unsigned int to_bufs(const std::array<std::span<const char>, 2>& spans, std::array<uv_buf_t, 2>& bufs) {
    bufs[0] = uv_buf_t{const_cast<char*>(spans[0].data()), spans[0].size()};
    bufs[1] = uv_buf_t{const_cast<char*>(spans[1].data()), spans[1].size()};
    return spans[1].empty() ? 1 : 2;
}

}  // namespace

Connection::Connection(ConnectionContext& context) : context_(context) {
    tcp_.data = this;
}

Connection* Connection::accept(ConnectionContext& context, uv_stream_t* listener) {
    auto* connection = new Connection(context);
    // uv_tcp_init cannot fail for AF_UNSPEC, nor uv_pipe_init; from here on
    // the handle exists and the object may only die in on_close.
    if (listener->type == UV_NAMED_PIPE) {
        uv_pipe_init(context.loop, &connection->pipe_, 0);
    } else {
        uv_tcp_init(context.loop, &connection->tcp_);
    }
    context.connections.link(connection, uv_now(context.loop));
    ++context.stats.connections;
    ++context.stats.accepted;
    int err = uv_accept(listener, connection->stream());
    if (err != 0) {
        common::log_warn("accept: {}", uv_strerror(err));
        connection->close();
        return nullptr;
    }
    uv_fileno(reinterpret_cast<uv_handle_t*>(&connection->tcp_), &connection->fd_);  // accepted: it has one
    if (connection->is_tcp()) {
        // Echo latency matters more than packet count: never hold back a small write.
        uv_tcp_nodelay(&connection->tcp_, 1);
    }
    if (context.proxy != nullptr) {
        connection->await_proxy_header();  // the echo begins once the header names the client
        return connection;
    }
    if (common::log_enabled(common::LogLevel::debug)) {
        common::log_debug("accepted {}", connection->peer_and_local());
    }
    connection->begin_echo();
    return connection;
}

std::string Connection::peer_and_local() {
    if (!is_tcp()) {
        return unix_peer_and_local(&pipe_);
    }
    sockaddr_storage peer{};
    sockaddr_storage local{};
    int peer_len = sizeof peer;
    int local_len = sizeof local;
    if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
        uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
        return "?";
    }
    return fmt::format("{} -> {}", common::format_address(reinterpret_cast<sockaddr*>(&peer)),
                       common::format_address(reinterpret_cast<sockaddr*>(&local)));
}

void Connection::begin_echo() {
    if (context_.faults != nullptr) {
        draw_faults();
    }
    start_reading();
    if (faults_ && !closing()) {
        write_shaped();  // close=0, reset=0, stall=0 end here
    }
}

void Connection::start_reading() {
    int err = uv_read_start(stream(), on_alloc, proxy_ ? on_header_read : on_read);
    if (err != 0) {
        common::log_debug("uv_read_start: {}", uv_strerror(err));
        close();
        return;
    }
    reading_ = true;
}

void Connection::stop_reading() {
    if (reading_) {
        uv_read_stop(stream());
        reading_ = false;
    }
    context_.ring_waiters.remove(*this);
    if (paused_) {
        paused_ = false;
        --context_.stats.paused;
    }
}

void Connection::pause_reading() {
    // Backpressure: the ring is full, so the peer's bytes wait in the kernel
    // and TCP's window pushes back on it. handle_write_done resumes.
    if (reading_) {
        uv_read_stop(stream());
        reading_ = false;
        paused_ = true;
        ++context_.stats.paused;
        ++context_.stats.backpressure_pauses;
        if (faults_) {
            watch_peer();  // its bytes may be held back: no write would see a reset
        }
    }
}

void Connection::resume_reading() {
    paused_ = false;
    --context_.stats.paused;
    start_reading();
}

void Connection::on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
    Connection* self = common::owner_of<Connection>(handle);
    if (self->state_ == State::discarding) {
        *buf = self->context_.discard;
        return;
    }
    if (!self->ring_) {
        if (self->state_ == State::open && !self->faults_ && !self->proxy_) {
            if (std::span<char> all = self->context_.rings.peek_free(); !all.empty()) {
                // Read into the ring the pool would lend next, without
                // borrowing it yet: echo_peeked borrows it only if the
                // socket does not take the echo back at once.
                *buf = uv_buf_t{all.data(), all.size()};
                self->peeked_ = true;
                return;
            }
        }
        self->ring_ = self->context_.rings.acquire();
        if (!self->ring_) {
            // --max-buffer-memory is spent. Read one byte at most, into
            // carry_: if one comes, handle_read queues us for a ring; an
            // EOF or error is handled as always; and libuv's read loop never
            // spins on an empty buffer.
            *buf = uv_buf_t{&self->carry_, 1};
            return;
        }
    }
    // libuv reads straight into the ring's free space. An empty buffer (full
    // ring) comes back as UV_ENOBUFS; on_read then pauses reading.
    std::span<char> free = self->ring_->writable_spans()[0];
    *buf = uv_buf_t{free.data(), free.size()};
}

void Connection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    Connection* self = common::owner_of<Connection>(stream);
    if (self->peeked_) {
        self->peeked_ = false;
        if (nread > 0) {
            assert(self->state_ == State::open);  // as on_alloc saw it: nothing ran in between
            self->echo_peeked(buf->base, static_cast<std::size_t>(nread));
            return;
        }
        // EOF, an error, or nothing: nothing was read into the pool's ring.
    }
    self->handle_read(nread);
}

void Connection::handle_read(ssize_t nread) {
    if (state_ == State::closing) {
        return;
    }
    if (nread > 0) {
        context_.stats.bytes_in += static_cast<std::size_t>(nread);
        touch();
        // The idle sweep measures a queued write's progress from the last
        // byte moved: libuv may have sent part of it since it was queued,
        // and counting that at the sweep would keep a stalled peer open for
        // a second timeout. (Writes set this themselves.)
        write_queue_seen_ = stream()->write_queue_size;
    }
    if (nread > 0 && state_ == State::discarding) {
        return;  // the drain drops input after our FIN
    }
    if (nread > 0 && !ring_) {
        carrying_ = true;  // one byte, read into carry_ with the budget spent
        wait_for_ring();
        return;
    }
    if (nread > 0) {
        ring_->commit(static_cast<std::size_t>(nread));
        if (faults_) {
            faults_->shaper.on_read(static_cast<std::size_t>(nread), FaultClock::now_us());
        }
        if (write_in_flight_ == 0) {
            write_ring();
        }
        if (state_ == State::open && ring_ && ring_->full()) {
            pause_reading();
        }
    } else if (nread == UV_ENOBUFS) {
        pause_reading();
    } else if (nread == UV_EOF) {
        reading_ = false;  // libuv stops reading at EOF by itself
        peer_eof_ = true;
        if (state_ == State::discarding) {
            close();
            return;
        }
        if (state_ == State::open) {
            state_ = State::flushing;
        }
        finish_if_flushed();
        if (faults_ && state_ == State::flushing) {
            // Bytes held back and no more reading: an RST that came with
            // the data is reported by libuv as this EOF (POLLHUP after a
            // partial read), and only TCP's state will tell.
            watch_peer();
        }
    } else if (nread < 0) {
        common::log_debug("read: {}", uv_strerror(static_cast<int>(nread)));
        close();
        return;
    }
    return_ring_if_idle();
}

void Connection::echo_peeked(char* data, std::size_t n) {
    // handle_read's work for bytes read into the pool's next ring (on_alloc),
    // with no ring of ours and no write in flight: echoed at once, they
    // never leave the pool.
    context_.stats.bytes_in += n;
    assert(stream()->write_queue_size == 0);  // no write in flight
    write_queue_seen_ = 0;
    uv_buf_t buf{data, n};
    ssize_t written = write_now(&buf, 1);
    if (written < 0) {
        return;  // closed
    }
    count_written(static_cast<std::size_t>(written));  // touches: a byte moved
    if (written == 0) {
        touch();
    }
    if (static_cast<std::size_t>(written) == n) {
        return;
    }
    // The rest waits for the socket in the ring, borrowed now: the one read
    // into, as nothing ran in between.
    ring_ = context_.rings.acquire();
    assert(ring_->writable_spans()[0].data() == data);
    ring_->commit(n);
    ring_->consume(static_cast<std::size_t>(written));
    write_rest();
    if (state_ == State::open && ring_ && ring_->full()) {
        pause_reading();
    }
}

void Connection::write_ring() {
    assert(write_in_flight_ == 0);
    if (faults_) {
        write_shaped();
        return;
    }
    if (state_ == State::closing || !ring_ || ring_->empty()) {
        return;
    }
    std::array<uv_buf_t, 2> bufs{};
    unsigned int count = to_bufs(ring_->readable_spans(), bufs);
    ssize_t written = write_now(bufs.data(), count);
    if (written < 0) {
        return;  // closed
    }
    ring_->consume(static_cast<std::size_t>(written));
    count_written(static_cast<std::size_t>(written));
    if (!ring_->empty()) {
        write_rest();
    }
}

ssize_t Connection::write_now(const uv_buf_t* bufs, unsigned int count) {
    // Most writes complete at once; only the remainder needs a request.
    // This is uv_try_write's own writev, called directly: with no write in
    // flight libuv's write queue is empty, the one thing uv_try_write checks
    // first, and its checks and calls cost more than the echo's own work.
    assert(write_in_flight_ == 0);
    // As libuv does, write(2) for one buffer, writev(2) for two.
    ssize_t written = 0;
    do {
        written = count == 1 ? ::write(fd_, bufs[0].base, bufs[0].len)
                             : ::writev(fd_, reinterpret_cast<const iovec*>(bufs), static_cast<int>(count));
    } while (written < 0 && errno == EINTR);
    if (written < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
            common::log_debug("write: {}", uv_strerror(-errno));
            close();
            return -1;
        }
        written = 0;  // the socket is full: all of it goes by uv_write
    }
    return written;
}

void Connection::write_rest() {
    std::array<uv_buf_t, 2> bufs{};
    unsigned int count = to_bufs(ring_->readable_spans(), bufs);
    // The ring's readable bytes stay put until after_write: reads only ever
    // fill the free part, so the buffers stay valid while in flight.
    if (!start_write(bufs.data(), count)) {
        return;
    }
    write_in_flight_ = ring_->readable();
    write_queue_seen_ = stream()->write_queue_size;
}

bool Connection::write_front(std::size_t n) {
    std::array<uv_buf_t, 2> bufs{};
    unsigned int count = to_bufs(ring_->readable_spans(n), bufs);
    // after_write counts the bytes and carries on, as for any write.
    if (!start_write(bufs.data(), count)) {
        return false;
    }
    write_in_flight_ = n;
    write_queue_seen_ = stream()->write_queue_size;
    return true;
}

bool Connection::start_write(const uv_buf_t* bufs, unsigned int count) {
    assert(write_req_ == nullptr);
    write_req_ = context_.requests.acquire();
    write_req_->write.data = this;
    int err = uv_write(&write_req_->write, stream(), bufs, count, after_write);
    if (err != 0) {
        context_.requests.release(std::exchange(write_req_, nullptr));
        common::log_debug("uv_write: {}", uv_strerror(err));
        close();
        return false;
    }
    return true;
}

void Connection::after_write(uv_write_t* req, int status) {
    common::owner_of<Connection>(req)->handle_write_done(status);
}

void Connection::handle_write_done(int status) {
    context_.requests.release(std::exchange(write_req_, nullptr));
    std::size_t done = write_in_flight_;
    write_in_flight_ = 0;
    if (status != 0) {
        // UV_ECANCELED when we closed first; anything else is the peer's fault.
        if (state_ != State::closing) {
            common::log_debug("write: {}", uv_strerror(status));
            close();
        }
        return;
    }
    ring_->consume(done);
    bytes_echoed_ += done;
    context_.stats.bytes_out += done;
    touch();
    write_ring();
    after_output();
}

void Connection::after_output() {
    if (paused_ && state_ == State::open && ring_ && !ring_->full()) {
        resume_reading();
    }
    finish_if_flushed();
    return_ring_if_idle();
}

void Connection::finish_if_flushed() {
    if (state_ != State::flushing || write_in_flight_ != 0 || (ring_ && !ring_->empty())) {
        return;
    }
    assert(shutdown_req_ == nullptr);
    shutdown_req_ = context_.requests.acquire();
    shutdown_req_->shutdown.data = this;
    int err = uv_shutdown(&shutdown_req_->shutdown, stream(), after_shutdown);
    if (err != 0) {
        context_.requests.release(std::exchange(shutdown_req_, nullptr));
        common::log_debug("shutdown: {}", uv_strerror(err));
        close();
        return;
    }
    state_ = State::shutting_down;
}

void Connection::after_shutdown(uv_shutdown_t* req, int status) {
    common::owner_of<Connection>(req)->handle_shutdown_done(status);
}

void Connection::handle_shutdown_done(int status) {
    context_.requests.release(std::exchange(shutdown_req_, nullptr));
    if (state_ == State::closing) {
        return;
    }
    if (status != 0 || peer_eof_) {
        close();
        return;
    }
    // Server drain: our FIN is out; read and drop until the peer closes, so
    // that closing never finds unread input (which would send RST).
    state_ = State::discarding;
    start_reading();
}

bool Connection::output_progressed() {
    if (write_in_flight_ != 0) {
        std::size_t queued = stream()->write_queue_size;
        bool moved = queued != write_queue_seen_;
        write_queue_seen_ = queued;
        return moved;
    }
    std::size_t unsent = kernel_send_queue();
    bool moved = unsent != 0 && unsent != kernel_queue_seen_;
    kernel_queue_seen_ = unsent;
    return moved;
}

std::size_t Connection::kernel_send_queue() {
#ifdef SIOCOUTQ
    uv_os_fd_t fd = -1;
    int unsent = 0;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0 && ::ioctl(fd, SIOCOUTQ, &unsent) == 0 &&
        unsent > 0) {
        return static_cast<std::size_t>(unsent);
    }
#endif
    return 0;  // unknown here: the connection counts as idle once libuv's queue is done
}

void Connection::return_ring_if_idle() {
    if (ring_ && ring_->empty() && write_in_flight_ == 0) {
        // give_back_ring(), spelled out: this runs after every echo.
        context_.rings.release(std::move(ring_));
        if (!context_.ring_waiters.empty()) {
            hand_out_rings(context_);
        }
    }
}

void Connection::give_back_ring() {
    context_.rings.release(std::move(ring_));
    if (!context_.ring_waiters.empty()) {
        hand_out_rings(context_);
    }
}

void Connection::wait_for_ring() {
    // --max-buffer-memory is lent out: like a full ring, the peer's bytes
    // wait in the kernel, and TCP holds the peer back. The next ring given
    // back is ours, in the order we came.
    if (reading_) {
        uv_read_stop(stream());
        reading_ = false;
    }
    context_.ring_waiters.push(*this);
}

void Connection::hand_out_rings(ConnectionContext& context) {
    // A loop, not a recursion: a waiter that echoes its byte at once gives
    // the ring straight back for the next one.
    while (!context.ring_waiters.empty()) {
        std::unique_ptr<RingBuffer> ring = context.rings.acquire();
        if (!ring) {
            return;
        }
        static_cast<Connection*>(context.ring_waiters.pop())->take_ring(std::move(ring));
    }
}

void Connection::take_ring(std::unique_ptr<RingBuffer> ring) {
    ring_ = std::move(ring);
    ring_->writable_spans()[0][0] = carry_;
    ring_->commit(1);
    carrying_ = false;
    if (state_ == State::open) {
        start_reading();
    }
    write_ring();
    if (ring_ && ring_->empty() && write_in_flight_ == 0) {
        context_.rings.release(std::move(ring_));  // hand_out_rings passes it on
        finish_if_flushed();
    }
}

void Connection::begin_drain() {
    if (proxy_) {
        end_header_phase();  // nothing to echo yet: FIN, and drop what comes
    }
    if (carrying_ && state_ == State::open) {
        // A byte read without a ring: it is echoed (then FIN) once a ring
        // comes; the place in the queue stays.
        state_ = State::flushing;
        return;
    }
    if (state_ == State::stalled) {
        close();  // a stall is silence on purpose: the drain does not wait for it
        return;
    }
    if (state_ != State::open) {
        return;  // already on its way out
    }
    stop_reading();
    state_ = State::flushing;
    finish_if_flushed();
}

void Connection::close() {
    if (state_ == State::closing) {
        return;
    }
    stop_reading();  // settles the paused count; uv_close stops reading anyway
    state_ = State::closing;
    if (faults_) {
        context_.faults->clock.cancel(faults_->timer);
    }
    if (proxy_) {
        end_header_phase();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_close);
}

void Connection::on_close(uv_handle_t* handle) {
    Connection* self = common::owner_of<Connection>(handle);
    // libuv has called back every request with UV_ECANCELED by now.
    assert(self->write_req_ == nullptr && self->shutdown_req_ == nullptr);
    if (self->ring_) {
        self->give_back_ring();
    }
    common::log_debug("closed after echoing {} bytes", self->bytes_echoed_);
    ConnectionContext& context = self->context_;
    context.connections.unlink(self);
    --context.stats.connections;
    ++context.stats.closed;
    delete self;
    context.on_closed();
}

}  // namespace echod
