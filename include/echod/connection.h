// One accepted connection, TCP or Unix stream socket (as its listener is):
// reads into a borrowed ring, writes the ring back out, and closes itself
// when done. libuv only says when the socket is ready (a uv_poll_t); the
// connection reads, writes and shuts down its socket itself, with read(2),
// write(2)/writev(2) and shutdown(2): libuv's stream layer costs about 100
// instructions per echo more than that (tools/bench --callgrind), and the
// ring already is the write queue. Only Nagle, RST and TCP_INFO are TCP's
// (a Unix socket has no Nagle, closes for a reset, and tells its peer's
// state by poll()).
//
// Lifecycle (state_):
//
//   open ──peer EOF or server drain──> flushing ──ring empty──┐
//     │                                                        │
//     │           peer had sent EOF: close (FIN) <─────────────┤
//     │      server drain: FIN (shutdown), discarding <────────┘
//     │                       (read and drop until EOF)
//     └── any error, at any point ──> closing ──> on_close: freed
//
// In `open`, reading stops while the ring is full (backpressure) and resumes
// as writes drain it. Bytes the socket does not take at once stay in the
// ring, and go out as it becomes writable. The object is freed only in its
// close callback.
//
// A connection that drew faults (--fault) also has a FaultyPeer: its writes
// go through write_shaped (connection_faults.cpp), which asks the shaper
// how much may go now, queues that much as any write that waits for the
// socket (one at a time), and waits on the loop's fault clock for the rest.
// After its close=/reset=/stall= count it ends with a FIN (flushing with
// the ring dropped), an RST (closing), or in `stalled`: neither reading
// nor writing until the peer closes. An honest connection pays one pointer
// test on the way.
//
// With --proxy-protocol a connection first reads its PROXY header
// (connection_proxy.cpp) through a read handler of its own, into the ring
// as always: the header's bytes are taken out, the bytes after it stay and
// are echoed, and from then on on_read reads as for any connection. A bad,
// over-long or late header (5 s) closes the connection unechoed. The echo
// path pays one pointer test for it.
#pragma once

#include "common/rate_limit.h"
#include "echod/connection_list.h"
#include "echod/fault_clock.h"
#include "echod/faults.h"
#include "echod/proxy_header.h"
#include "echod/ring_buffer.h"
#include "echod/ring_pool.h"
#include "echod/stats.h"

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace echod {

// What a connection needs from whoever runs it, and nothing more: it does
// not know the server. The server owns one and hands every connection a
// reference; the parts live here by value, so that the hot path reaches a
// counter or the list through one pointer, as a member of the server would.
// --proxy-protocol on one loop: the deadlines of the headers still
// arriving, on one libuv timer (the deadline clock the faults use too), and
// the once-a-second limit on the warnings peers can cause with bad headers.
struct ProxyContext {
    explicit ProxyContext(uv_loop_t* loop) : deadlines(loop) {}
    FaultClock deadlines;
    common::RateLimit warnings;
};

// A header not complete this long after the accept closes the connection.
inline constexpr std::uint64_t proxy_header_timeout_us = 5'000'000;

struct ConnectionContext {
    ConnectionContext(uv_loop_t* loop, std::size_t ring_capacity, std::size_t max_rings, uv_buf_t discard,
                      std::function<void()> on_closed)
        : loop(loop),
          rings(ring_capacity, default_max_pooled(ring_capacity), max_rings),
          discard(discard),
          on_closed(std::move(on_closed)) {}
    ConnectionContext(const ConnectionContext&) = delete;
    ConnectionContext& operator=(const ConnectionContext&) = delete;

    uv_loop_t* loop;                  // every connection's handles live here
    RingPool rings;                   // lends a ring while bytes are in flight, within the budget
    RingWaiters ring_waiters;         // connections with bytes to read and no ring to read into
    Stats stats;                      // counters the connection bumps itself
    ConnectionList connections;       // live connections; each links itself in and out
    uv_buf_t discard;                 // input read and dropped during a drain
    std::function<void()> on_closed;  // after a connection left the list (the drain may be done)
    FaultContext* faults = nullptr;   // --fault: who misbehaves, and their clock; nullptr: nobody
    ProxyContext* proxy = nullptr;    // --proxy-protocol: every connection starts with a header; nullptr: none does
};

// What a misbehaving connection carries besides its socket.
struct FaultyPeer {
    FaultyPeer(const FaultConfig& config, std::uint64_t seed, std::uint64_t now_us) : shaper(config, seed, now_us) {}
    FaultShaper shaper;       // how much may be written, and when
    FaultClock::Timer timer;  // the next write, slice pause, or stalled peer's check
};

// What a connection carries while its PROXY header arrives.
struct ProxyPhase {
    ProxyHeaderParser parser;
    FaultClock::Timer deadline;  // proxy_header_timeout_us after the accept
};

// Its place in the list of live connections and in the queue for a ring are
// bases, so that neither needs a pointer back.
class Connection : public ConnectionList::Node, private RingWaiters::Node {
public:
    // A new Connection for fd, just accepted (non-blocking; TCP, else a
    // Unix socket), that starts reading at once. It owns fd from here on.
    // Returns nullptr (and logs why, fd closed) on failure.
    static Connection* accept(ConnectionContext& context, int fd, bool tcp);

    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Server shutdown: stop reading, write out the ring, then half-close and
    // discard input until the peer closes.
    void begin_drain();

    // Closes now (RST if input is unread). Idempotent.
    void close();

    bool closing() const { return state_ == State::closing; }

    // True when echoed bytes are still moving towards the peer although no
    // write said so: once everything is written, a kernel send queue that
    // shrank since the last call (a write in part counts as activity by
    // itself). A slow but steady reader would otherwise look idle. Asked
    // only of connections that look idle (a syscall at most), so a peer
    // that stops reading is closed after two timeouts at most.
    bool output_progressed();

    std::uint64_t bytes_echoed() const { return bytes_echoed_; }

private:
    enum class State { open, flushing, discarding, stalled, closing };

    explicit Connection(ConnectionContext& context);
    ~Connection() = default;

    static void on_poll(uv_poll_t* poll, int status, int events);
    static void on_close(uv_handle_t* handle);

    void handle_readable();           // read(2) once, and echo it, or handle_read (or the header's)
    uv_buf_t read_buffer();           // where a read goes if not into the pool's next ring (see handle_readable)
    void handle_read(ssize_t nread);  // nread as libuv's: bytes read, 0, UV_EOF, UV_ENOBUFS or an error
    void handle_writable();           // writes what waits; once all is out, carries on as after any write
    void watch();                     // the poll asks for what reading_ and write_in_flight_ want

    void begin_echo();     // after the accept, or after the PROXY header: faults drawn, reading
    void start_reading();  // reads go to handle_read, or handle_header_read while the PROXY header arrives
    void stop_reading();
    void pause_reading();   // the ring is full
    void resume_reading();  // writes made room
    void write_ring();      // echo what the ring holds: write_now, then write_rest
    // n bytes read into the pool's next ring, at data; written of them went
    // back at once (-1: the write failed, errno says why): the rest.
    void echo_rest(char* data, std::size_t n, ssize_t written);
    ssize_t write_now(const uv_buf_t* bufs, unsigned int count);  // what the socket takes now; -1 if it closed
    ssize_t write_failed();              // after a write's -1: 0 if the socket was only full, else -1 once closed
    void count_written(std::size_t n) {  // n bytes echoed
        bytes_echoed_ += n;
        context_.stats.bytes_out += n;
        if (n > 0) {
            touch();
        }
    }
    void write_rest() { queue_front(ring_->readable()); }  // what the ring holds waits for the socket
    void queue_front(std::size_t n);                       // the ring's first n bytes wait for the socket
    void after_output();                                   // room in the ring, flushed, ring idle: what follows a write

    // --fault (connection_faults.cpp).
    void draw_faults();   // at accept: does this one misbehave?
    void write_shaped();  // write_ring, as much and as soon as the faults allow
    void end_by_fault();  // close=, reset= or stall= reached
    enum class PeerState { open, half_closed, reset };
    PeerState peer();       // asked of TCP, for a connection that does not read
    PeerState unix_peer();  // the same for a Unix socket, asked of poll()
    void watch_peer();      // held bytes and no reading: wake within peer_check_us to ask
    static void on_fault_timer(void* self);
    void finish_if_flushed();                                // flushing and nothing left: FIN
    void return_ring_if_idle();                              // empty and no write in flight: back to the pool
    void give_back_ring();                                   // to the pool, and on to the longest waiting connection
    void wait_for_ring();                                    // the budget is spent: stop reading, join the queue
    void take_ring(std::unique_ptr<RingBuffer> ring);        // our turn: the carried byte, then reading
    static void hand_out_rings(ConnectionContext& context);  // to the waiters, first come first served
    std::size_t kernel_send_queue();                         // bytes written but not yet sent (Linux; 0 elsewhere)
    std::string peer_and_local();  // "192.0.2.1:56324 -> 127.0.0.1:7007" as the socket sees it

    // --proxy-protocol (connection_proxy.cpp).
    void await_proxy_header();  // at accept: the header's reader and deadline
    void handle_header_read(ssize_t nread, const uv_buf_t* buf);
    void proxy_header_done(std::size_t pending);   // pending: bytes after the header, at the ring's free space
    void reject_proxy_header(const char* reason);  // counted, warned about (once a second at most), closed
    void end_header_phase();                       // the deadline cancelled, the parser gone
    static void on_header_deadline(void* self);
    // A byte moved: the most recently active now (only read the clock when
    // --idle-timeout wants the order).
    void touch() {
        if (context_.connections.tracks_activity()) {
            context_.connections.touch(this, uv_now(context_.loop));
        }
    }
    bool is_tcp() const { return tcp_; }

    uv_poll_t poll_{};                    // says when fd_ is readable or writable
    ConnectionContext& context_;          // the loop, the pool, the stats, the list we are in
    std::unique_ptr<RingBuffer> ring_;    // borrowed while bytes are in flight
    std::unique_ptr<FaultyPeer> faults_;  // --fault, for this connection; nullptr: an honest echo
    std::unique_ptr<ProxyPhase> proxy_;   // --proxy-protocol, until the header is read; then nullptr
    State state_ = State::open;
    int fd_ = -1;            // the socket, ours: closed by close()
    int polled_ = 0;         // what poll_ asks for: UV_READABLE, UV_WRITABLE, both, or 0 (stopped)
    bool tcp_ = true;        // else a Unix socket
    bool reading_ = false;   // we want to read (the poll asks for UV_READABLE)
    bool paused_ = false;    // not reading because the ring is full
    bool peer_eof_ = false;  // the peer half-closed (or closed)
    bool carrying_ = false;  // carry_ holds a byte read while no ring was to be had
    char carry_ = 0;
    std::size_t write_in_flight_ = 0;    // the ring's first bytes, waiting for the socket to take them
    std::size_t kernel_queue_seen_ = 0;  // unsent bytes in the kernel when last looked at
    std::uint64_t bytes_echoed_ = 0;     // written back to the peer
};

}  // namespace echod
