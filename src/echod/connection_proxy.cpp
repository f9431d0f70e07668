// The PROXY header phase of Connection (--proxy-protocol): the header is
// read before the echo, through handle_header_read, into the ring's free space
// as any read; it is parsed there and never committed, so the ring stays
// empty (and goes back to the pool between reads). The bytes after the
// header are moved to the front of the free space and handed to
// handle_read, as if just read; from then on the connection reads through
// handle_read like any other.
#include "common/address.h"
#include "common/log.h"
#include "echod/connection.h"

#include <cstring>

namespace echod {

void Connection::await_proxy_header() {
    proxy_ = std::make_unique<ProxyPhase>();
    proxy_->deadline.owner = this;
    proxy_->deadline.fire = on_header_deadline;
    context_.proxy->deadlines.schedule(proxy_->deadline, FaultClock::now_us() + proxy_header_timeout_us);
    start_reading();  // into handle_header_read while proxy_ is set
}

void Connection::handle_header_read(ssize_t nread, const uv_buf_t* buf) {
    if (state_ == State::closing) {
        return;
    }
    if (nread > 0) {
        touch();  // header bytes are bytes: --idle-timeout counts them
        ProxyHeaderParser::Step step = proxy_->parser.feed({buf->base, static_cast<std::size_t>(nread)});
        if (step.status == ProxyHeaderParser::Status::need_more) {
            return_ring_if_idle();  // nothing was committed: the ring is empty
            return;
        }
        if (step.status == ProxyHeaderParser::Status::error) {
            reject_proxy_header(proxy_->parser.error());
            return;
        }
        // The bytes after the header go where the next read would put them.
        std::size_t pending = static_cast<std::size_t>(nread) - step.used;
        std::memmove(buf->base, buf->base + step.used, pending);
        proxy_header_done(pending);
        return;
    }
    if (nread == UV_ENOBUFS) {
        pause_reading();  // no room in a ring for now; start_reading comes back here
    } else if (nread == UV_EOF) {
        if (proxy_->parser.received() != 0) {
            reject_proxy_header("the peer closed inside the header");
            return;
        }
        // Connected and closed without a byte: a balancer's plain TCP
        // health check, not a bad header.
        common::log_debug("closed before a PROXY header");
        close();
    } else if (nread < 0) {
        common::log_debug("read: {}", uv_strerror(static_cast<int>(nread)));
        close();
    }
}

void Connection::proxy_header_done(std::size_t pending) {
    if (common::log_enabled(common::LogLevel::debug)) {
        const ProxyHeader& header = proxy_->parser.header();
        if (header.local) {
            common::log_debug("accepted {} (PROXY v{} without a client address)", peer_and_local(), header.version);
        } else {
            common::log_debug("accepted {} -> {} (PROXY v{})",
                              common::format_address(reinterpret_cast<const sockaddr*>(&header.source)),
                              common::format_address(reinterpret_cast<const sockaddr*>(&header.destination)),
                              header.version);
        }
    }
    end_header_phase();  // without proxy_, the next read goes to handle_read
    begin_echo();
    if (pending != 0 && state_ == State::open) {
        handle_read(static_cast<ssize_t>(pending));  // a fault that ended at 0 bytes echoes nothing
    } else {
        return_ring_if_idle();
    }
}

void Connection::reject_proxy_header(const char* reason) {
    ++context_.stats.proxy_errors;
    if (context_.proxy->warnings.allow(uv_now(context_.loop))) {
        common::log_warn("PROXY header from {}: {}; closed unechoed ({} so far)", peer_and_local(), reason,
                         context_.stats.proxy_errors);
    }
    close();
}

void Connection::end_header_phase() {
    context_.proxy->deadlines.cancel(proxy_->deadline);
    proxy_.reset();
}

void Connection::on_header_deadline(void* self) {
    static_cast<Connection*>(self)->reject_proxy_header("not complete within 5 s");
}

}  // namespace echod
