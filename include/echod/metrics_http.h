// --metrics-listen: GET and HEAD of /metrics over HTTP/1.x, on a listener of
// its own in the loop it is given (the server's, or the --workers parent's).
// Its connections are apart from the echo's (their own list, their own cap)
// and bounded: at most max_http_clients at once, one 8 KiB head buffer and
// one response each, and a deadline per request, so a scraper (or someone
// pretending to be one) costs the echo no more than a few small reads and
// writes on the loop. Keep-alive: a connection may carry request after
// request, each answered before the next is read.
#pragma once

#include "common/rate_limit.h"
#include "echod/http_request.h"

#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace echod {

inline constexpr std::size_t max_http_clients = 64;  // more are accepted and closed at once
// From a connection's accept, or its previous answer, to the end of the next
// answer's write: a request that is not whole by then is closed (408 first
// if some of it came).
inline constexpr std::uint64_t http_deadline_ms = 5000;
// After a last answer, echod closes its side and reads (and drops) until the
// peer closes, for at most this long, so that the answer is not lost to a
// reset caused by unread bytes.
inline constexpr std::uint64_t http_linger_ms = 1000;
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

class MetricsHttp {
public:
    // address: "ADDR:PORT" as --metrics-listen took it. metrics: the
    // Prometheus text, now; called once per 200 answer.
    MetricsHttp(uv_loop_t* loop, std::string address, std::function<std::string()> metrics);
    MetricsHttp(const MetricsHttp&) = delete;
    MetricsHttp& operator=(const MetricsHttp&) = delete;

    // Binds, listens and logs "metrics on http://ADDR:PORT/metrics" (the
    // kernel's port for 0) at every log level. False once the reason is
    // logged (one line naming --metrics-listen and the address).
    bool start();
    // The listener and every connection. Idempotent; the handles are closed
    // (and the connections freed) by the time the loop has run once more.
    void close();
    // In a child just forked from the loop's process (--workers): close(2)
    // the sockets, so that a worker holds no scraper's connection open.
    // Nothing of libuv's: the child shares the parent's epoll set.
    void close_fds_in_child() const;

private:
    class Client;

    static void on_connection(uv_stream_t* listener, int status);
    void refuse();
    void forget(Client* client);

    uv_loop_t* loop_;
    std::string address_;
    std::function<std::string()> metrics_;
    uv_tcp_t listener_{};
    bool listener_initialized_ = false;
    bool closed_ = false;
    std::vector<Client*> clients_;       // open connections, freed in their close callback
    common::RateLimit refuse_warnings_;  // over max_http_clients, at most once a second
};

}  // namespace echod
