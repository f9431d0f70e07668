// One place of echobench's load: a connection that connects, keeps its
// messages in flight, checks and times every echo, and closes itself when
// told or when broken. With --messages-per-connection N (churn) the place
// holds a series of connections: each closes gracefully after N echoes and
// the next one connects at once, in the same Client, with a new id.
//
// Lifecycle (state_):
//
//   idle ──connect()──> connecting ──connected──> open ──drain()──> draining
//     │  ^                  │                       │                  │ nothing in flight
//     │  │                  │                       │ churn: N echoed  │
//     │  │                  │                       v                  │
//     │  │                  │           finishing (our FIN sent)       │
//     │  │                  │                       │ the server's FIN │
//     └──┼───────── close(), or any failure, from any state ───────────┴──> closing
//        │                                                                   │ on_close
//        └────────── churn: a new connection (not after drain or -n's end) ──┤
//                                                                          closed
//
// Messages are numbered per connection. Message s lives in send slot s % K
// (K = pipeline) from the moment it is written until its echo is complete
// and its write has completed, so the buffers libuv writes from stay put and
// nothing is allocated per message. Closed loop: message s + K may go as soon
// as s is done. Open loop: message s goes when its scheduled time has come
// (ClientContext::scheduled_ns) and a slot is free; its latency counts from the
// scheduled time, however late it went out. The schedule belongs to the
// place, not the connection: with churn, the time a new connection takes to
// connect shows in the latency of the messages that waited for it.
//
// With -n, once the measured window has opened each message claims its place
// among the N before it goes (LoadCounters::claim_messages); those messages, and
// only those, count. A client that cannot claim one drains, and is not
// replaced.
//
// Churn: the connection's close is graceful, so that the TIME_WAIT stays on
// this side, not the server's: once its N messages are echoed (and their
// writes done) it shuts down its sending side (FIN) and keeps reading until
// the server's FIN comes back, then closes. Bytes after the last echo are a
// mismatch; no FIN within --timeout is a timeout. A new connection takes the
// place as soon as the old one's close callback ran. If it fails to connect
// it counts as a connect error and the place stays empty: a server that
// refuses connections ends the run rather than being retried in a loop.
//
// A client knows its worker only through a ClientContext; the worker owns
// its clients and frees them only after the loop has run every close
// callback.
#pragma once

#include "common/uv_socket.h"
#include "echobench/load/counters.h"
#include "echobench/load/pattern.h"
#include "echobench/options.h"

#include <uv.h>

#include <cstdint>
#include <vector>

namespace echobench {

// What a worker's clients share and see of it, on the worker's thread. The
// worker owns it and fills it before its first client exists; it changes
// traffic_started and schedule_start_ns as the phases move.
struct ClientContext {
    uv_loop_t* loop = nullptr;
    bool local = false;  // the server is a Unix socket (-H unix:PATH): clients are uv_pipe_t
    const BenchConfig* config = nullptr;
    const Pattern* pattern = nullptr;
    uv_buf_t read_buffer{};            // shared: a read is consumed before the next alloc
    LoadCounters* counters = nullptr;  // where echoes, errors and connection events go
    bool traffic_started = false;      // a client connecting later starts at once
    // Open loop: message k of the worker goes to client k % clients at
    // schedule_start_ns + k * interval_ns.
    std::uint64_t schedule_start_ns = 0;
    double interval_ns = 0;
    std::uint32_t clients = 0;
    // A client's close callback ran (it may be freed once all have).
    void (*client_closed)(void* owner) = nullptr;
    void* owner = nullptr;

    bool open_loop() const { return config->rate > 0; }
    std::uint64_t scheduled_ns(std::uint32_t index, std::uint64_t seq) const {
        double k = static_cast<double>(seq) * static_cast<double>(clients) + index;
        return schedule_start_ns + static_cast<std::uint64_t>(k * interval_ns);
    }
};

class Client {
public:
    // id is unique across the run; index is the position in the worker's
    // list. With churn, the place's later connections get id + k * -c (k =
    // 1, 2, ...), so that ids stay unique across the run.
    Client(const ClientContext& context, std::uint64_t id, std::uint32_t index);
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void connect(const sockaddr* address);
    // Traffic may start (closed loop: fill the pipeline).
    void start_traffic();
    // Open loop: messages 0..due-1 are now due.
    void set_due(std::uint64_t due);
    // Stop sending; close once every message in flight is back; no new
    // connection after this one.
    void drain();
    // Closes now; idempotent.
    void close();
    // Housekeeping from the worker's timer: connect and echo timeouts.
    void check_timeout(std::uint64_t now_ns);

    bool connecting() const { return state_ == State::connecting; }
    bool closed() const { return state_ == State::closed; }

private:
    enum class State { idle, connecting, open, draining, finishing, closing, closed };

    // One uv_write of up to two runs of slots (two at the ring's wrap).
    struct WriteRequest {
        uv_write_t req{};           // first: libuv hands this back to after_write
        std::uint64_t end_seq = 0;  // messages below this are written once it completes
    };

    static void after_connect(uv_connect_t* req, int status);
    static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void after_write(uv_write_t* req, int status);
    static void after_shutdown(uv_shutdown_t* req, int status);
    static void on_close(uv_handle_t* handle);

    void handle_connect(int status);
    void handle_read(ssize_t nread, const uv_buf_t* buf);
    void handle_write_done(const WriteRequest& request, int status);

    void send_ready();  // write every message that may go now, as one uv_write
    void close_if_drained();
    void finish_if_done();  // churn: the last message is back, send our FIN
    void reconnect();       // churn: the next connection of this place
    void fail_broken(const char* what, int err);
    std::uint64_t in_flight() const { return sent_seq_ - checker_.sequence(); }
    std::byte* slot(std::uint64_t seq) { return send_buffer_.data() + (seq % pipeline_) * size_; }
    uv_stream_t* stream() { return common::as_stream(socket_); }

    common::StreamSocket socket_{};       // TCP or Unix; libuv keeps its address
    uv_connect_t connect_req_{};          // the connect, once per connection
    uv_shutdown_t shutdown_req_{};        // churn: our FIN, once per connection
    const ClientContext& context_;        // the worker's loop, configuration, counters
    const std::uint64_t first_id_;        // the place's first connection's id
    std::uint64_t id_;                    // in every message's pattern: first_id_ + generation_ * -c
    std::uint64_t generation_ = 0;        // connections of this place before this one
    const std::uint32_t index_;           // position in the worker (open-loop schedule)
    const std::uint32_t pipeline_;        // K: slots, and messages in flight at most
    const std::size_t size_;              // bytes per message
    const std::uint64_t per_connection_;  // churn: messages per connection (else UINT64_MAX)
    const sockaddr* address_ = nullptr;   // the server: the worker's, outlives us
    State state_ = State::idle;
    bool live_ = false;                           // counted in LoadCounters::live_places()
    bool retire_ = false;                         // no new connection after this one (drain, -n's end)
    bool replace_on_close_ = false;               // churn: a clean end, the next connection follows
    StreamChecker checker_;                       // the echo stream: which message, how far
    std::vector<std::byte> send_buffer_;          // K slots of size_ bytes
    std::vector<std::uint64_t> latency_base_ns_;  // per slot: sent (closed) or scheduled (open) time
    std::vector<WriteRequest> writes_;            // K requests, used round-robin
    std::uint64_t sent_seq_ = 0;                  // messages handed to uv_write
    std::uint64_t written_seq_ = 0;               // messages whose write completed
    std::uint64_t writes_started_ = 0;            // uv_write calls (selects the request)
    std::uint64_t due_ = 0;                       // the place's messages allowed out (closed loop: unlimited)
    std::uint64_t place_sent_ = 0;                // churn: messages sent by the place's earlier connections
    std::uint64_t first_counted_seq_ = 0;         // -n: the first message claimed (none yet: UINT64_MAX)
    std::uint64_t connect_started_ns_ = 0;        // for the connect timeout and latency
    std::uint64_t last_progress_ns_ = 0;          // last byte echoed, batch sent, or our FIN
};

}  // namespace echobench
