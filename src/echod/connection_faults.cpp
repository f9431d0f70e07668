// The misbehaving half of Connection (--fault): shaped writes, and the
// three ways a conversation ends on purpose. connection.cpp is the honest
// echo; it comes here only through write_ring when faults_ is set.
#include "common/log.h"
#include "echod/connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>

namespace echod {
namespace {

// How often a connection that neither reads nor writes (stalled, or
// holding bytes back with a full ring) asks TCP whether its peer has gone:
// nothing else would tell it.
constexpr std::uint64_t peer_check_us = 250000;  // a quarter of a second

}  // namespace

void Connection::draw_faults() {
    FaultContext& faults = *context_.faults;
    if (!faults.config().any()) {
        return;  // a reload took them away
    }
    std::optional<std::uint64_t> seed = faults.plan.draw_connection();
    if (!seed) {
        return;
    }
    faults_ = std::make_unique<FaultyPeer>(faults.config(), *seed, FaultClock::now_us());
    faults_->timer.owner = this;
    faults_->timer.fire = on_fault_timer;
    ++context_.stats.fault_connections;
    common::log_debug("this connection misbehaves (--fault)");
}

void Connection::on_fault_timer(void* self) {
    auto* connection = static_cast<Connection*>(self);
    if (connection->state_ == State::stalled) {
        // After a stall nothing more goes either way: a peer that half-closed
        // is done too.
        if (connection->peer() != PeerState::open) {
            common::log_debug("a stalled connection's peer closed");
            connection->close();
            return;
        }
        connection->context_.faults->clock.schedule(connection->faults_->timer, FaultClock::now_us() + peer_check_us);
        return;
    }
    if (!connection->reading_ && connection->write_in_flight_ == 0 && connection->peer() == PeerState::reset) {
        // Bytes held back, ring full: no read or write would see the reset.
        common::log_debug("the peer reset while bytes were held back");
        connection->close();
        return;
    }
    if (connection->write_in_flight_ == 0) {
        connection->write_shaped();
        connection->after_output();
    }
}

void Connection::write_shaped() {
    if (state_ == State::closing || state_ == State::stalled) {
        return;
    }
    FaultShaper& shaper = faults_->shaper;
    if (shaper.end_due()) {
        end_by_fault();
        return;
    }
    std::uint64_t now = FaultClock::now_us();
    FaultShaper::Decision decision = shaper.next_write(ring_ ? ring_->readable() : 0, now);
    if (decision.limited) {
        ++context_.stats.faults[static_cast<std::size_t>(*decision.limited)];
    }
    if (decision.bytes != 0) {
        // One write at a time; handle_writable comes back here for the next.
        shaper.on_written(decision.bytes, now);
        queue_front(decision.bytes);
    } else if (decision.wait_until != 0) {
        context_.faults->clock.schedule(faults_->timer, decision.wait_until);
        if (!reading_) {
            watch_peer();
        }
    }
}

void Connection::end_by_fault() {
    FaultEnd end = faults_->shaper.end();
    ++context_.stats.faults[static_cast<std::size_t>(end == FaultEnd::close   ? Fault::close
                                                     : end == FaultEnd::reset ? Fault::reset
                                                                              : Fault::stall)];
    stop_reading();
    context_.faults->clock.cancel(faults_->timer);
    switch (end) {
        case FaultEnd::close:
            // Nothing more is echoed: drop what the ring holds, send FIN,
            // then read and drop until the peer closes, so that closing
            // never finds unread input (which would send RST).
            if (ring_) {
                give_back_ring();
            }
            state_ = State::flushing;
            finish_if_flushed();
            return;
        case FaultEnd::reset:
            if (is_tcp()) {
                // A zero linger makes close send RST, as uv_tcp_close_reset
                // does. No RST on a Unix socket: the peer sees its end close
                // (ECONNRESET if it had sent bytes we had not read).
                linger abort{1, 0};
                if (::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort) != 0) {
                    common::log_debug("setsockopt SO_LINGER: {}", uv_strerror(uv_translate_sys_error(errno)));
                }
            }
            close();
            return;
        case FaultEnd::stall:
        case FaultEnd::none:
            state_ = State::stalled;
            context_.faults->clock.schedule(faults_->timer, FaultClock::now_us() + peer_check_us);
            return;
    }
}

void Connection::watch_peer() {
    context_.faults->clock.schedule_by(faults_->timer, FaultClock::now_us() + peer_check_us);
}

Connection::PeerState Connection::peer() {
    if (!is_tcp()) {
        return unix_peer();
    }
    // TCP knows what our unread input hides: a FIN puts the socket in
    // CLOSE_WAIT, an RST in CLOSE.
#if defined(__linux__)
    tcp_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &length) == 0) {
        if (info.tcpi_state == TCP_CLOSE_WAIT) {
            return PeerState::half_closed;
        }
        if (info.tcpi_state != TCP_ESTABLISHED) {
            return PeerState::reset;
        }
    }
#endif
    return PeerState::open;  // or unknown here: --idle-timeout still ends it
}

Connection::PeerState Connection::unix_peer() {
    // A Unix socket has no TCP_INFO, but poll() tells: POLLRDHUP once the
    // peer shut down its writing side, POLLHUP once it closed (nothing we
    // write can reach it: as good as a reset).
#if defined(POLLRDHUP)
    pollfd ask{fd_, POLLRDHUP, 0};
    if (::poll(&ask, 1, 0) == 1) {
        if ((ask.revents & POLLHUP) != 0) {
            return PeerState::reset;
        }
        if ((ask.revents & POLLRDHUP) != 0) {
            return PeerState::half_closed;
        }
    }
#endif
    return PeerState::open;  // or unknown here: --idle-timeout still ends it
}

}  // namespace echod
