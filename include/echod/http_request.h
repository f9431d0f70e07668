// A small, strict reader of HTTP/1.x request heads (RFC 9112): the request
// line and the header fields up to the blank line, at most 8 KiB, fed the
// bytes of a request as they arrive. And the answers of echod's /metrics
// endpoint: which status a request gets, and the response's bytes. Pure:
// no sockets, no clock, so every edge is unit-tested and fuzzed.
//
// Strict means: one space between the request line's three parts, a token
// for the method and for each field name, no whitespace before a field's
// colon, no line folding, no control byte in a value, no CR without its LF,
// one Host (and an HTTP/1.1 request has one). Lines may end in a bare LF,
// and empty lines before the request line are skipped (RFC 9112 2.2).
// A body is never read: a request that announces one is answered, and then
// its connection closes.
#pragma once

#include "common/parse.h"

#include <cstddef>
#include <ctime>
#include <string>
#include <string_view>

namespace echod {

// The request line and the fields, blank line included, must fit in this.
inline constexpr std::size_t max_http_head = 8 * common::KiB;

enum class HttpMethod { get, head, other };

// A request head, read whole.
struct HttpRequest {
    HttpMethod method = HttpMethod::other;
    std::string path;             // the target's path, without query: "/metrics" (also from "http://host/metrics")
    int minor_version = 1;        // HTTP/1.<minor>
    bool keep_alive = true;       // another request may follow on the connection
    bool has_body = false;        // Content-Length above 0, or Transfer-Encoding: not read, the connection closes
    std::size_t head_length = 0;  // bytes of the head, the blank line included
};

// What the bytes so far make.
struct HttpVerdict {
    enum class Kind {
        incomplete,  // no blank line yet: read more
        complete,    // request holds the head
        bad,         // answer status (400, 431 or 505), then close
    };
    Kind kind = Kind::incomplete;
    HttpRequest request;  // for complete
    int status = 0;       // for bad
    std::string reason;   // for bad: why, in a few words
};

class HttpRequestReader {
public:
    // received: every byte of this request so far, those of the previous
    // call first (the caller appends, never changes them). A byte is
    // scanned only once, however the request is cut up; the head is parsed
    // once, when it is complete. Bytes after the head (a pipelined request,
    // a body) are left alone.
    HttpVerdict read(std::string_view received);
    // For the next request on the same connection.
    void reset() { *this = HttpRequestReader(); }

private:
    std::size_t scanned_ = 0;     // bytes looked at so far
    std::size_t line_start_ = 0;  // where the line being scanned began
    std::size_t head_start_ = 0;  // the request line's first byte (after empty lines)
    bool started_ = false;        // a non-empty line has been seen
};

// The status echod's metrics endpoint gives a request: 200 for GET or HEAD
// of /metrics, 405 for another method, 404 for another path.
int metrics_status(const HttpRequest& request);

// The reason phrase of the statuses used here ("Not Found"), "" for others.
std::string_view http_reason_phrase(int status);

struct HttpResponse {
    int status = 200;
    std::string_view content_type = "text/plain; charset=utf-8";
    std::string_view body;
    bool head_only = false;  // HEAD: the head a GET gets (Content-Length too), without the body
    bool close = false;      // Connection: close; else keep-alive
    std::string_view date;   // the Date field's value; "" leaves it out
};

// The response's bytes: HTTP/1.1 status line, Date, Content-Type,
// Content-Length, Connection (and Allow: GET, HEAD for a 405), the body.
std::string format_http_response(const HttpResponse& response);

// RFC 9110's IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::time_t time);

}  // namespace echod
