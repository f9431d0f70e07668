#include "echobench/load/client.h"

#include "common/uv_owner.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

namespace echobench {
Client::Client(const ClientContext& context, std::uint64_t id, std::uint32_t index)
    : context_(context),
      first_id_(id),
      id_(id),
      index_(index),
      pipeline_(context.config->pipeline),
      size_(context.config->size),
      per_connection_(context.config->messages_per_connection > 0 ? context.config->messages_per_connection
                                                                  : UINT64_MAX),
      checker_(*context.pattern, id, context.config->verify),
      send_buffer_(static_cast<std::size_t>(pipeline_) * size_),
      latency_base_ns_(pipeline_, 0),
      writes_(pipeline_),
      first_counted_seq_(context.config->messages > 0 ? UINT64_MAX : 0) {
    // No socket yet (connect makes it), so idle clients are cheap; from here
    // on the handle exists and must be closed.
    common::init_stream_socket(context_.loop, socket_, context_.local);
    common::as_handle(socket_)->data = this;
    connect_req_.data = this;
    shutdown_req_.data = this;
    for (WriteRequest& w : writes_) {
        w.req.data = this;
    }
    if (!context_.config->verify) {
        // Content does not matter unchecked: fill once, never per message.
        for (std::uint32_t s = 0; s < pipeline_; ++s) {
            context_.pattern->fill(id_, s, {slot(s), size_});
        }
    }
}

void Client::connect(const sockaddr* address) {
    assert(state_ == State::idle);
    state_ = State::connecting;
    address_ = address;
    context_.counters->count_connect_started();
    connect_started_ns_ = uv_hrtime();
    int err = common::connect_stream(&connect_req_, socket_, address, after_connect);
    if (err != 0) {
        // EMFILE, EADDRNOTAVAIL (out of ports): no callback will come.
        context_.counters->count_connect_failed(fmt::format("connect: {}", uv_strerror(err)), generation_ > 0);
        close();
    }
}

void Client::after_connect(uv_connect_t* req, int status) {
    common::owner_of<Client>(req)->handle_connect(status);
}

void Client::handle_connect(int status) {
    if (status == UV_ECANCELED || state_ != State::connecting) {
        return;  // we closed it (drain or timeout) and have counted it already
    }
    if (status != 0) {
        // Unlike TCP's SYN, a Unix socket's connect does not wait for room
        // in a full backlog: it fails at once.
        bool backlog_full = status == UV_EAGAIN && context_.local;
        context_.counters->count_connect_failed(
            fmt::format("connect: {}{}", uv_strerror(status), backlog_full ? " (the server's backlog is full)" : ""),
            generation_ > 0);
        close();
        return;
    }
    state_ = State::open;
    live_ = true;
    const std::uint64_t now = uv_hrtime();
    context_.counters->count_connected(now, now - connect_started_ns_, generation_ > 0);
    // Latency is the point: never let Nagle hold back a small message.
    common::set_nodelay(socket_);
    last_progress_ns_ = now;
    if (int err = uv_read_start(stream(), on_alloc, on_read); err != 0) {
        fail_broken("read", err);
        return;
    }
    if (context_.traffic_started) {
        start_traffic();
    }
}

void Client::start_traffic() {
    if (state_ != State::open) {
        return;
    }
    if (!context_.open_loop()) {
        due_ = UINT64_MAX;
    }
    send_ready();
}

void Client::set_due(std::uint64_t due) {
    if (due > due_) {
        due_ = due;
        if (state_ == State::open) {
            send_ready();
        }
    }
}

void Client::send_ready() {
    // Slot s % K is free for message s once message s - K is echoed and
    // written; due_ counts the place's messages, earlier connections' too.
    std::uint64_t limit = std::min(checker_.sequence(), written_seq_) + pipeline_;
    std::uint64_t end = std::min({limit, due_ - place_sent_, per_connection_});
    if (end <= sent_seq_) {
        return;
    }
    const std::uint64_t now = uv_hrtime();
    if (context_.config->messages > 0 && context_.counters->window_open(now)) {
        // -n: only messages claimed from the run's total go out, and count.
        std::uint64_t claimed = context_.counters->claim_messages(end - sent_seq_);
        if (first_counted_seq_ == UINT64_MAX) {
            first_counted_seq_ = sent_seq_;
        }
        if (claimed < end - sent_seq_) {
            end = sent_seq_ + claimed;
            state_ = State::draining;  // the total is reached: nothing more to send
            retire_ = true;            // and no new connection after this one
            if (claimed == 0) {
                close_if_drained();
                return;
            }
        }
    }
    const bool verify = context_.config->verify;
    const bool open_loop = context_.open_loop();
    for (std::uint64_t s = sent_seq_; s < end; ++s) {
        if (verify) {
            context_.pattern->fill(id_, s, {slot(s), size_});
        }
        latency_base_ns_[s % pipeline_] = open_loop ? context_.scheduled_ns(index_, place_sent_ + s) : now;
    }
    // At most K messages are unwritten, so at most K requests are in use.
    WriteRequest& request = writes_[writes_started_ % pipeline_];
    std::uint64_t first = sent_seq_ % pipeline_;
    std::uint64_t count = end - sent_seq_;
    std::uint64_t run1 = std::min<std::uint64_t>(count, pipeline_ - first);
    uv_buf_t bufs[2] = {
        uv_buf_init(reinterpret_cast<char*>(slot(sent_seq_)), static_cast<unsigned>(run1 * size_)),
        uv_buf_init(reinterpret_cast<char*>(send_buffer_.data()), static_cast<unsigned>((count - run1) * size_)),
    };
    request.end_seq = end;
    if (in_flight() == 0) {
        last_progress_ns_ = now;  // the echo timeout starts with the first message out
    }
    // libuv copies the uv_buf_t array (up to 4 without allocating); the bytes
    // stay in their slots until after_write.
    int err = uv_write(&request.req, stream(), bufs, count == run1 ? 1 : 2, after_write);
    if (err != 0) {
        fail_broken("write", err);
        return;
    }
    ++writes_started_;
    sent_seq_ = end;
}

void Client::after_write(uv_write_t* req, int status) {
    // req is the first member of a WriteRequest.
    common::owner_of<Client>(req)->handle_write_done(*reinterpret_cast<WriteRequest*>(req), status);
}

void Client::handle_write_done(const WriteRequest& request, int status) {
    if (status == UV_ECANCELED || state_ == State::closing || state_ == State::closed) {
        return;
    }
    if (status != 0) {
        fail_broken("write", status);
        return;
    }
    // libuv completes a stream's writes in order.
    context_.counters->count_sent((request.end_seq - written_seq_) * size_);
    written_seq_ = request.end_seq;
    if (state_ == State::open) {
        send_ready();
        finish_if_done();
    } else {
        close_if_drained();
    }
}

void Client::finish_if_done() {
    // The write must be done too, as in close_if_drained.
    if (state_ != State::open || checker_.sequence() < per_connection_ || written_seq_ != sent_seq_) {
        return;
    }
    if (int err = uv_shutdown(&shutdown_req_, stream(), after_shutdown); err != 0) {
        fail_broken("shutdown", err);
        return;
    }
    state_ = State::finishing;
    last_progress_ns_ = uv_hrtime();  // the server's FIN is due within --timeout
}

void Client::after_shutdown(uv_shutdown_t* req, int status) {
    Client* self = common::owner_of<Client>(req);
    if (status != 0 && status != UV_ECANCELED && self->state_ == State::finishing) {
        self->fail_broken("shutdown", status);
    }
}

void Client::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    *buf = common::owner_of<Client>(handle)->context_.read_buffer;
}

void Client::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    common::owner_of<Client>(stream)->handle_read(nread, buf);
}

void Client::handle_read(ssize_t nread, const uv_buf_t* buf) {
    if (nread == 0 || state_ == State::closing || state_ == State::closed) {
        return;  // EAGAIN, or a read already queued when we closed
    }
    if (nread < 0) {
        if (nread == UV_EOF && state_ == State::finishing) {
            replace_on_close_ = true;  // a clean end: the next connection takes the place
            close();
            return;
        }
        if (nread == UV_EOF && state_ == State::draining && in_flight() == 0) {
            close();
            return;
        }
        fail_broken(nread == UV_EOF ? "closed by the server" : "read", nread == UV_EOF ? 0 : static_cast<int>(nread));
        return;
    }
    // One clock read per read(2): every message it completes ends now.
    const std::uint64_t now = uv_hrtime();
    const LoadCounters::EchoTime when = context_.counters->echo_time(now);
    last_progress_ns_ = now;
    std::span<const std::byte> data(reinterpret_cast<const std::byte*>(buf->base), static_cast<std::size_t>(nread));
    while (!data.empty()) {
        if (checker_.sequence() >= sent_seq_) {
            context_.counters->count_mismatch(
                fmt::format("connection {}: {} bytes arrived beyond those sent", id_, data.size()));
            close();
            return;
        }
        StreamChecker::Step step = checker_.feed(data);
        data = data.subspan(step.consumed);
        if (!step.complete) {
            continue;
        }
        std::uint64_t seq = checker_.sequence() - 1;
        if (step.mismatch) {
            context_.counters->count_mismatch(
                fmt::format("connection {} message {}: echoed bytes differ from those sent", id_, seq));
        } else {
            std::uint64_t base = latency_base_ns_[seq % pipeline_];
            LoadCounters::EchoTime counted = when;
            counted.measured = when.measured && seq >= first_counted_seq_;  // -n: claimed, not warm-up's
            context_.counters->count_echo(counted, now > base ? now - base : 0);
        }
    }
    if (state_ == State::open) {
        send_ready();
        finish_if_done();
    } else {
        close_if_drained();
    }
}

void Client::drain() {
    retire_ = true;
    switch (state_) {
        case State::idle:
        case State::connecting:
            close();
            return;
        case State::open:
            state_ = State::draining;
            close_if_drained();
            return;
        default:
            return;
    }
}

void Client::close_if_drained() {
    // The write must be done too: closing cancels it, and the server would
    // then see a reset instead of a clean close.
    if (state_ == State::draining && in_flight() == 0 && written_seq_ == sent_seq_) {
        close();
    }
}

void Client::check_timeout(std::uint64_t now_ns) {
    const auto limit = static_cast<std::uint64_t>(context_.config->timeout_s * 1e9);
    // now_ns was read before this tick's connects and sends: it may be older
    // than the times they recorded.
    auto older_than_limit = [&](std::uint64_t since) { return now_ns > since && now_ns - since > limit; };
    if (state_ == State::connecting && older_than_limit(connect_started_ns_)) {
        context_.counters->count_connect_failed("connect: timed out", generation_ > 0);
        close();
    } else if (state_ == State::finishing && older_than_limit(last_progress_ns_)) {
        context_.counters->count_timeout(
            fmt::format("connection {}: no FIN from the server {:g} s after ours", id_, context_.config->timeout_s));
        close();
    } else if ((state_ == State::open || state_ == State::draining) && in_flight() > 0 &&
               older_than_limit(last_progress_ns_)) {
        context_.counters->count_timeout(fmt::format("connection {}: {} message(s) unanswered for {:g} s", id_,
                                                     in_flight(), context_.config->timeout_s));
        close();
    }
}

void Client::fail_broken(const char* what, int err) {
    context_.counters->count_broken(err == 0 ? std::string(what) : fmt::format("{}: {}", what, uv_strerror(err)));
    close();
}

void Client::close() {
    if (state_ == State::closing || state_ == State::closed) {
        return;
    }
    bool was_open = state_ == State::open || state_ == State::draining || state_ == State::finishing;
    state_ = State::closing;
    context_.counters->count_closed(was_open);
    uv_close(common::as_handle(socket_), on_close);
}

void Client::on_close(uv_handle_t* handle) {
    Client* self = common::owner_of<Client>(handle);
    self->state_ = State::closed;
    if (self->replace_on_close_ && !self->retire_) {
        self->reconnect();
        return;
    }
    if (self->live_) {
        self->live_ = false;
        self->context_.counters->count_place_ended();
    }
    self->context_.client_closed(self->context_.owner);
}

void Client::reconnect() {
    // A run-unique id: first ids are 0 .. -c - 1, so first_id_ + k * -c
    // never meets another place's.
    ++generation_;
    id_ = first_id_ + generation_ * context_.config->connections;
    checker_.restart(id_);
    place_sent_ += sent_seq_;
    sent_seq_ = 0;
    written_seq_ = 0;
    writes_started_ = 0;
    first_counted_seq_ = context_.config->messages > 0 ? UINT64_MAX : 0;
    replace_on_close_ = false;
    state_ = State::idle;
    // libuv is done with the handle: its memory may hold a new one.
    common::init_stream_socket(context_.loop, socket_, context_.local);
    common::as_handle(socket_)->data = this;
    connect(address_);
}

}  // namespace echobench
