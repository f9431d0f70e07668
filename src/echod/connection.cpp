#include "echod/connection.h"

#include "common/address.h"
#include "common/log.h"
#include "common/uv_owner.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
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
std::string unix_peer_and_local(int fd) {
    sockaddr_storage local{};
    socklen_t local_length = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0) {
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

// How many ring-filling reads one readiness may echo (libuv's stream reads
// stop at 32 too).
constexpr int max_reads_per_wake = 32;

// read(2) once, as libuv reports it: the bytes read, UV_EOF, 0 when there
// was nothing after all (EAGAIN), or an error.
inline ssize_t read_socket(int fd, char* data, std::size_t size) {
    ssize_t nread = 0;
    do {
        nread = ::read(fd, data, size);
    } while (nread < 0 && errno == EINTR);
    if (nread > 0) {
        return nread;
    }
    if (nread == 0) {
        return UV_EOF;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : uv_translate_sys_error(errno);
}

}  // namespace

Connection::Connection(ConnectionContext& context) : context_(context) {
    poll_.data = this;
}

Connection* Connection::accept(ConnectionContext& context, int fd, bool tcp) {
    auto* connection = new Connection(context);
    connection->fd_ = fd;
    connection->tcp_ = tcp;
    if (int err = uv_poll_init_socket(context.loop, &connection->poll_, fd); err != 0) {
        common::log_warn("accept: uv_poll_init: {}", uv_strerror(err));
        ::close(fd);
        delete connection;  // no handle yet: nothing for libuv to close
        return nullptr;
    }
    // From here on the handle exists, and the object may only die in on_close.
    context.connections.link(connection, uv_now(context.loop));
    ++context.stats.connections;
    ++context.stats.accepted;
    if (tcp) {
        // Echo latency matters more than packet count: never hold back a small write.
        int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
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
        return unix_peer_and_local(fd_);
    }
    sockaddr_storage peer{};
    sockaddr_storage local{};
    socklen_t peer_len = sizeof peer;
    socklen_t local_len = sizeof local;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
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
    reading_ = true;
    watch();
}

void Connection::stop_reading() {
    if (reading_) {
        reading_ = false;
        watch();
    }
    context_.ring_waiters.remove(*this);
    if (paused_) {
        paused_ = false;
        --context_.stats.paused;
    }
}

void Connection::pause_reading() {
    // Backpressure: the ring is full, so the peer's bytes wait in the kernel
    // and TCP's window pushes back on it. after_output resumes.
    if (reading_) {
        reading_ = false;
        watch();
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

void Connection::watch() {
    // Changes only what the loop's next epoll_ctl will ask for: no system
    // call here. The echo's steady state asks for UV_READABLE throughout.
    if (state_ == State::closing) {
        return;  // uv_close stopped the poll
    }
    int wanted = (reading_ ? UV_READABLE : 0) | (write_in_flight_ != 0 ? UV_WRITABLE : 0);
    if (wanted == polled_) {
        return;
    }
    polled_ = wanted;
    int err = wanted != 0 ? uv_poll_start(&poll_, wanted, on_poll) : uv_poll_stop(&poll_);
    if (err != 0) {
        common::log_debug("uv_poll_start: {}", uv_strerror(err));
        close();
    }
}

void Connection::on_poll(uv_poll_t* poll, int status, int events) {
    Connection* self = common::owner_of<Connection>(poll);
    if (status < 0) {
        // POLLERR: the socket failed (a reset, most often), and libuv has
        // stopped polling it. What failed is the socket's pending error.
        self->polled_ = 0;
        if (common::log_enabled(common::LogLevel::debug)) {
            int error = 0;
            socklen_t length = sizeof error;
            ::getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &error, &length);
            common::log_debug("socket: {}", error != 0 ? uv_strerror(uv_translate_sys_error(error)) : "error");
        }
        self->close();
        return;
    }
    if ((events & UV_WRITABLE) != 0 && self->write_in_flight_ != 0) {
        self->handle_writable();
    }
    if ((events & UV_READABLE) != 0 && self->reading_) {
        self->handle_readable();
    }
}

uv_buf_t Connection::read_buffer() {
    if (state_ == State::discarding) {
        return context_.discard;
    }
    if (!ring_) {
        ring_ = context_.rings.acquire();
        if (!ring_) {
            // --max-buffer-memory is spent. Read one byte at most, into
            // carry_: if one comes, handle_read queues us for a ring; an
            // EOF or error is handled as always.
            return uv_buf_t{&carry_, 1};
        }
    }
    // Straight into the ring's free space. None (a full ring) is
    // UV_ENOBUFS for handle_read, which pauses reading.
    std::span<char> free = ring_->writable_spans()[0];
    return uv_buf_t{free.data(), free.size()};
}

void Connection::handle_readable() {
    if (!ring_ && state_ == State::open && !faults_ && !proxy_) {
        // The echo's usual case, kept in this one frame: read into the ring
        // the pool would lend next, without borrowing it yet, and write it
        // straight back. Only if the socket does not take it all is the ring
        // borrowed (echo_rest); otherwise the bytes never leave the pool.
        std::span<char> spare = context_.rings.peek_free();
        if (!spare.empty()) {
            // A read that fills the ring most likely left more behind: read
            // again at once, as libuv's own reads do (at most
            // max_reads_per_wake times, so that others get their turn),
            // rather than one epoll_wait per ring's worth of a bulk sender.
            for (int reads = 0; reads < max_reads_per_wake; ++reads) {
                ssize_t nread = read_socket(fd_, spare.data(), spare.size());
                if (nread <= 0) {
                    handle_read(nread);  // EOF, an error, or nothing: nothing is in the pool's ring
                    return;
                }
                auto n = static_cast<std::size_t>(nread);
                context_.stats.bytes_in += n;
                ssize_t written = 0;
                do {
                    written = ::write(fd_, spare.data(), n);
                } while (written < 0 && errno == EINTR);
                if (static_cast<std::size_t>(written) != n) {
                    echo_rest(spare.data(), n, written);
                    return;
                }
                count_written(n);
                if (n < spare.size()) {
                    return;  // all there was, most likely: the next readiness says
                }
            }
            return;
        }
    }
    // Anything else reads where read_buffer says: into our own ring, a ring
    // the pool makes, carry_, or the drain's discard buffer.
    uv_buf_t buf = read_buffer();
    ssize_t nread = buf.len != 0 ? read_socket(fd_, buf.base, buf.len) : ssize_t{UV_ENOBUFS};
    if (proxy_) {
        handle_header_read(nread, &buf);
    } else {
        handle_read(nread);
    }
}

void Connection::handle_read(ssize_t nread) {
    if (state_ == State::closing) {
        return;
    }
    if (nread > 0) {
        context_.stats.bytes_in += static_cast<std::size_t>(nread);
        touch();
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
        reading_ = false;  // nothing more to read, ever
        peer_eof_ = true;
        if (state_ == State::discarding) {
            close();
            return;
        }
        if (state_ == State::open) {
            state_ = State::flushing;
        }
        finish_if_flushed();
        // Only now: most often that closed, which stops the poll anyway, and
        // every change of the poll costs an epoll_ctl (two, for a start).
        watch();
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

void Connection::echo_rest([[maybe_unused]] char* data, std::size_t n, ssize_t written) {
    // n bytes read into the pool's next ring, at data, with no ring of ours
    // and no write in flight; written of them went back at once (-1: the
    // write failed, errno says why).
    if (written < 0 && (written = write_failed()) < 0) {
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
    // Most writes complete at once; only the remainder waits for the
    // socket. As libuv does, write(2) for one buffer, writev(2) for two.
    ssize_t written = 0;
    do {
        written = count == 1 ? ::write(fd_, bufs[0].base, bufs[0].len)
                             : ::writev(fd_, reinterpret_cast<const iovec*>(bufs), static_cast<int>(count));
    } while (written < 0 && errno == EINTR);
    return written < 0 ? write_failed() : written;
}

ssize_t Connection::write_failed() {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
        common::log_debug("write: {}", uv_strerror(uv_translate_sys_error(errno)));
        close();
        return -1;
    }
    return 0;  // the socket is full: all of it waits
}

void Connection::queue_front(std::size_t n) {
    // The bytes stay put in the ring until written: reads only ever fill the
    // free part. handle_writable writes them as the socket takes them.
    assert(write_in_flight_ == 0 && n != 0);
    write_in_flight_ = n;
    watch();
}

void Connection::handle_writable() {
    std::array<uv_buf_t, 2> bufs{};
    unsigned int count = to_bufs(ring_->readable_spans(write_in_flight_), bufs);
    ssize_t written = write_now(bufs.data(), count);
    if (written < 0) {
        return;  // closed
    }
    ring_->consume(static_cast<std::size_t>(written));
    write_in_flight_ -= static_cast<std::size_t>(written);
    count_written(static_cast<std::size_t>(written));  // progress: not idle
    if (write_in_flight_ != 0) {
        return;  // the rest when the socket takes more
    }
    write_ring();  // more may have been read meanwhile
    after_output();
    watch();  // no more UV_WRITABLE, unless write_ring queued more
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
    if (peer_eof_) {
        close();  // both sides done: close sends the FIN (no input is unread)
        return;
    }
    // Server drain, or a fault's close=: our FIN now; then read and drop
    // until the peer closes, so that closing never finds unread input (which
    // would send RST).
    if (::shutdown(fd_, SHUT_WR) != 0) {
        common::log_debug("shutdown: {}", uv_strerror(uv_translate_sys_error(errno)));
        close();
        return;
    }
    state_ = State::discarding;
    start_reading();
}

bool Connection::output_progressed() {
    if (write_in_flight_ != 0) {
        return false;  // every write of it in part touched: no touch since, no progress
    }
    std::size_t unsent = kernel_send_queue();
    bool moved = unsent != 0 && unsent != kernel_queue_seen_;
    kernel_queue_seen_ = unsent;
    return moved;
}

std::size_t Connection::kernel_send_queue() {
#ifdef SIOCOUTQ
    int unsent = 0;
    if (::ioctl(fd_, SIOCOUTQ, &unsent) == 0 && unsent > 0) {
        return static_cast<std::size_t>(unsent);
    }
#endif
    return 0;  // unknown here: the connection counts as idle once libuv's queue is done
}

void Connection::return_ring_if_idle() {
    if (ring_ && ring_->empty() && write_in_flight_ == 0) {
        give_back_ring();
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
        reading_ = false;
        watch();
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
    state_ = State::closing;  // first: watch() leaves the poll to uv_close (no epoll_ctl twice)
    stop_reading();           // settles the paused count and the queue for a ring
    write_in_flight_ = 0;     // dropped with the ring, in on_close
    if (faults_) {
        context_.faults->clock.cancel(faults_->timer);
    }
    if (proxy_) {
        end_header_phase();
    }
    // uv_close stops the poll at once (and takes fd_ out of epoll), so the
    // socket can close now, as libuv closes its own: RST if input is
    // unread, else FIN.
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), on_close);
    ::close(fd_);
    fd_ = -1;
}

void Connection::on_close(uv_handle_t* handle) {
    Connection* self = common::owner_of<Connection>(handle);
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
