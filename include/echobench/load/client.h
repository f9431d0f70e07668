// One load connection of echobench: connects, keeps its messages in flight,
// checks and times every echo, and closes itself when told or when broken.
//
// Lifecycle (state_):
//
//   idle ──connect()──> connecting ──connected──> open ──drain()──> draining
//     │                     │                       │                  │ nothing in flight
//     └──────────── close(), or any failure, from any state ───────────┴──> closing
//                                                                            │ on_close
//                                                                          closed
//
// Messages are numbered per connection. Message s lives in send slot s % K
// (K = pipeline) from the moment it is written until its echo is complete
// and its write has completed, so the buffers libuv writes from stay put and
// nothing is allocated per message. Closed loop: message s + K may go as soon
// as s is done. Open loop: message s goes when its scheduled time has come
// (Worker::scheduled_ns) and a slot is free; its latency counts from the
// scheduled time, however late it went out.
//
// With -n, once the measured window has opened each message claims its place
// among the N before it goes (Worker::claim_messages); those messages, and
// only those, count. A client that cannot claim one drains.
//
// The Worker owns its clients and frees them only after the loop has run
// every close callback.
#pragma once

#include "echobench/load/pattern.h"

#include <uv.h>

#include <cstdint>
#include <vector>

namespace echobench {

class Worker;

class Client {
public:
    // id is unique across the run; index is the position in worker's list.
    Client(Worker& worker, std::uint64_t id, std::uint32_t index);
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void connect(const sockaddr* address);
    // Traffic may start (closed loop: fill the pipeline).
    void start_traffic();
    // Open loop: messages 0..due-1 are now due.
    void set_due(std::uint64_t due);
    // Stop sending; close once every message in flight is back.
    void drain();
    // Closes now; idempotent.
    void close();
    // Housekeeping from the worker's timer: connect and echo timeouts.
    void check_timeout(std::uint64_t now_ns);

    bool connecting() const { return state_ == State::connecting; }
    bool closed() const { return state_ == State::closed; }

private:
    enum class State { idle, connecting, open, draining, closing, closed };

    // One uv_write of up to two runs of slots (two at the ring's wrap).
    struct WriteRequest {
        uv_write_t req{};           // first: libuv hands this back to after_write
        std::uint64_t end_seq = 0;  // messages below this are written once it completes
    };

    static void after_connect(uv_connect_t* req, int status);
    static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void after_write(uv_write_t* req, int status);
    static void on_close(uv_handle_t* handle);

    void handle_connect(int status);
    void handle_read(ssize_t nread, const uv_buf_t* buf);
    void handle_write_done(const WriteRequest& request, int status);

    void send_ready();  // write every message that may go now, as one uv_write
    void close_if_drained();
    void fail_broken(const char* what, int err);
    std::uint64_t in_flight() const { return sent_seq_ - checker_.sequence(); }
    std::byte* slot(std::uint64_t seq) { return send_buffer_.data() + (seq % pipeline_) * size_; }
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

    uv_tcp_t tcp_{};                // the socket; libuv keeps its address
    uv_connect_t connect_req_{};    // the connect, once
    Worker& worker_;                // owns the loop, the clock, the counters
    const std::uint64_t id_;        // in every message's pattern
    const std::uint32_t index_;     // position in the worker (open-loop schedule)
    const std::uint32_t pipeline_;  // K: slots, and messages in flight at most
    const std::size_t size_;        // bytes per message
    State state_ = State::idle;
    StreamChecker checker_;                       // the echo stream: which message, how far
    std::vector<std::byte> send_buffer_;          // K slots of size_ bytes
    std::vector<std::uint64_t> latency_base_ns_;  // per slot: sent (closed) or scheduled (open) time
    std::vector<WriteRequest> writes_;            // K requests, used round-robin
    std::uint64_t sent_seq_ = 0;                  // messages handed to uv_write
    std::uint64_t written_seq_ = 0;               // messages whose write completed
    std::uint64_t writes_started_ = 0;            // uv_write calls (selects the request)
    std::uint64_t due_ = 0;                       // messages allowed out (closed loop: unlimited)
    std::uint64_t first_counted_seq_ = 0;         // -n: the first message claimed (none yet: UINT64_MAX)
    std::uint64_t connect_started_ns_ = 0;        // for the connect timeout
    std::uint64_t last_progress_ns_ = 0;          // last byte echoed or batch sent
};

}  // namespace echobench
