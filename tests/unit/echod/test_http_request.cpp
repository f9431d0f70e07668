#include "doctest_include.h"

#include "echod/http_request.h"

#include <string>

using echod::HttpMethod;
using echod::HttpRequestReader;
using echod::HttpVerdict;
using Kind = echod::HttpVerdict::Kind;

namespace {

HttpVerdict read_whole(std::string_view text) {
    HttpRequestReader reader;
    return reader.read(text);
}

// The same text fed one byte more at a time, as a slow client sends it:
// the verdict of the first call that is not "incomplete".
HttpVerdict read_bytewise(std::string_view text) {
    HttpRequestReader reader;
    for (std::size_t n = 1; n <= text.size(); ++n) {
        HttpVerdict verdict = reader.read(text.substr(0, n));
        if (verdict.kind != Kind::incomplete) {
            return verdict;
        }
    }
    return {};
}

int bad_status(std::string_view text) {
    HttpVerdict verdict = read_whole(text);
    return verdict.kind == Kind::bad ? verdict.status : 0;
}

}  // namespace

TEST_CASE("a GET of /metrics, whole or a byte at a time") {
    std::string text = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: test\r\n\r\n";
    for (const HttpVerdict& verdict : {read_whole(text), read_bytewise(text)}) {
        REQUIRE(verdict.kind == Kind::complete);
        CHECK(verdict.request.method == HttpMethod::get);
        CHECK(verdict.request.path == "/metrics");
        CHECK(verdict.request.minor_version == 1);
        CHECK(verdict.request.keep_alive);
        CHECK_FALSE(verdict.request.has_body);
        CHECK(verdict.request.head_length == text.size());
        CHECK(echod::metrics_status(verdict.request) == 200);
    }
}

TEST_CASE("incomplete until the blank line") {
    CHECK(read_whole("").kind == Kind::incomplete);
    CHECK(read_whole("GET /metrics HTTP/1.1\r\n").kind == Kind::incomplete);
    CHECK(read_whole("GET /metrics HTTP/1.1\r\nHost: x\r\n").kind == Kind::incomplete);
    CHECK(read_whole("GET /metrics HTTP/1.1\r\nHost: x\r\n\r").kind == Kind::incomplete);
}

TEST_CASE("bare LF ends lines; empty lines before the request line are skipped and counted") {
    HttpVerdict verdict = read_whole("GET /metrics HTTP/1.0\n\n");
    REQUIRE(verdict.kind == Kind::complete);
    CHECK(verdict.request.minor_version == 0);
    CHECK_FALSE(verdict.request.keep_alive);  // HTTP/1.0 closes unless asked

    std::string text = "\r\n\nHEAD /metrics HTTP/1.1\r\nhost: x\n\r\n";
    for (const HttpVerdict& v : {read_whole(text), read_bytewise(text)}) {
        REQUIRE(v.kind == Kind::complete);
        CHECK(v.request.method == HttpMethod::head);
        CHECK(v.request.head_length == text.size());
    }
}

TEST_CASE("a pipelined request stays after head_length") {
    std::string first = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    std::string second = "GET /other HTTP/1.1\r\nHost: x\r\n\r\n";
    HttpRequestReader reader;
    HttpVerdict verdict = reader.read(first + second);
    REQUIRE(verdict.kind == Kind::complete);
    CHECK(verdict.request.head_length == first.size());
    reader.reset();
    verdict = reader.read(second);
    REQUIRE(verdict.kind == Kind::complete);
    CHECK(verdict.request.path == "/other");
}

TEST_CASE("the status: 404 for another path, 405 for another method (methods are case-sensitive)") {
    auto status = [](std::string_view text) {
        HttpVerdict verdict = read_whole(text);
        REQUIRE(verdict.kind == Kind::complete);
        return echod::metrics_status(verdict.request);
    };
    CHECK(status("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 404);
    CHECK(status("GET /metrics/ HTTP/1.1\r\nHost: x\r\n\r\n") == 404);
    CHECK(status("GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n") == 404);
    CHECK(status("GET /metrics?name[]=up HTTP/1.1\r\nHost: x\r\n\r\n") == 200);
    CHECK(status("GET http://127.0.0.1:9100/metrics HTTP/1.1\r\nHost: x\r\n\r\n") == 200);
    CHECK(status("GET HTTP://h/metrics?x HTTP/1.1\r\nHost: x\r\n\r\n") == 200);
    CHECK(status("GET http://h?/metrics HTTP/1.1\r\nHost: x\r\n\r\n") == 404);  // the path is "/"
    CHECK(status("GET http://h HTTP/1.1\r\nHost: x\r\n\r\n") == 404);
    CHECK(status("POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n") == 405);
    CHECK(status("get /metrics HTTP/1.1\r\nHost: x\r\n\r\n") == 405);
    CHECK(status("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n") == 405);
    CHECK(status("GET * HTTP/1.1\r\nHost: x\r\n\r\n") == 404);
}

TEST_CASE("a bad request line is 400 as soon as it ends, a version other than 1.x 505") {
    // No blank line needed: the request line alone decides.
    CHECK(bad_status("GET /metrics\r\n") == 400);  // HTTP/0.9
    CHECK(bad_status("GET  /metrics HTTP/1.1\r\n") == 400);
    CHECK(bad_status("GET /metrics  HTTP/1.1\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1 \r\n") == 400);
    CHECK(bad_status(" GET /metrics HTTP/1.1\r\n") == 400);
    CHECK(bad_status("GET\t/metrics HTTP/1.1\r\n") == 400);
    CHECK(bad_status("G@T /metrics HTTP/1.1\r\n") == 400);
    CHECK(bad_status("GET metrics HTTP/1.1\r\n") == 400);
    CHECK(bad_status("GET http:///metrics HTTP/1.1\r\n") == 400);
    CHECK(bad_status("GET ftp://h/metrics HTTP/1.1\r\n") == 400);
    CHECK(bad_status("GET /m\xc3\xa9trics HTTP/1.1\r\n") == 400);
    CHECK(bad_status("GET /metrics http/1.1\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.10\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1\r\n") == 400);
    CHECK(bad_status(std::string("GET /metrics HTTP/1.1\0\r\n", 24)) == 400);
    CHECK(bad_status("GET /metrics HTTP/2.0\r\n") == 505);
    CHECK(bad_status("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == 505);  // HTTP/2's preface
    CHECK(bad_status("GET /metrics HTTP/0.9\r\n") == 505);
    CHECK(read_whole("GET /metrics HTTP/1.9\r\nHost: x\r\n\r\n").kind == Kind::complete);

    HttpVerdict verdict = read_bytewise("GET /metrics HTTP/2.0\r\n");
    CHECK(verdict.kind == Kind::bad);
    CHECK(verdict.status == 505);
    CHECK(verdict.reason.find("HTTP/2.0") != std::string::npos);
}

TEST_CASE("a CR must be followed by LF") {
    CHECK(bad_status("GET /metrics HTTP/1.1\rHost: x\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\r\n\r\n") == 400);
    CHECK(read_whole("GET /metrics HTTP/1.1\r").kind == Kind::incomplete);  // the LF may come next
    CHECK(read_bytewise("GET /metrics HTTP/1.1\r\nHost: x\rx\r\n\r\n").kind == Kind::bad);
}

TEST_CASE("header lines: a token name, a colon at once, no folding, no control bytes") {
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: b\r\n  folded\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: b\x01\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: b\x7f\r\n\r\n") == 400);
    CHECK(bad_status(std::string("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: \0\r\n\r\n", 42)) == 400);
    // Tabs, obs-text and an empty value are fine.
    CHECK(read_whole("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A:\tb\tc\xff\r\nX-B:\r\n\r\n").kind == Kind::complete);
}

TEST_CASE("Host: exactly one in HTTP/1.1, at most one in HTTP/1.0") {
    CHECK(bad_status("GET /metrics HTTP/1.1\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n") == 400);
    CHECK(read_whole("GET /metrics HTTP/1.0\r\n\r\n").kind == Kind::complete);
    CHECK(read_whole("GET /metrics HTTP/1.1\r\nhOsT: \r\n\r\n").kind == Kind::complete);
}

TEST_CASE("Connection: close and keep-alive, by version") {
    auto keep_alive = [](std::string_view text) {
        HttpVerdict verdict = read_whole(text);
        REQUIRE(verdict.kind == Kind::complete);
        return verdict.request.keep_alive;
    };
    CHECK(keep_alive("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK_FALSE(keep_alive("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    CHECK_FALSE(keep_alive("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: TE, Close\r\n\r\n"));
    CHECK(keep_alive("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n"));
    CHECK_FALSE(keep_alive("GET /metrics HTTP/1.0\r\n\r\n"));
    CHECK(keep_alive("GET /metrics HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    CHECK_FALSE(keep_alive("GET /metrics HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"));
}

TEST_CASE("a body is announced, never read: the connection closes after the answer") {
    auto read = [](std::string_view text) {
        HttpVerdict verdict = read_whole(text);
        REQUIRE(verdict.kind == Kind::complete);
        return verdict.request;
    };
    auto zero = read("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n");
    CHECK_FALSE(zero.has_body);
    CHECK(zero.keep_alive);
    auto five = read("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    CHECK(five.has_body);
    CHECK_FALSE(five.keep_alive);
    CHECK(five.head_length == 54);  // "hello" is not part of it
    auto same = read("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    CHECK(same.has_body);
    auto chunked = read("POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(chunked.has_body);
    CHECK_FALSE(chunked.keep_alive);

    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n") == 400);
    CHECK(bad_status("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400);
}

TEST_CASE("the head is bounded at 8 KiB: 431 when it does not end within") {
    std::string start = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    std::string end = "\r\n\r\n";
    std::string exact = start + std::string(echod::max_http_head - start.size() - end.size(), 'a') + end;
    REQUIRE(exact.size() == echod::max_http_head);
    CHECK(read_whole(exact).kind == Kind::complete);

    std::string over = start + std::string(echod::max_http_head - start.size() - end.size() + 1, 'a') + end;
    CHECK(bad_status(over.substr(0, echod::max_http_head)) == 431);
    HttpVerdict verdict = read_bytewise(over);
    CHECK(verdict.kind == Kind::bad);
    CHECK(verdict.status == 431);

    CHECK(bad_status(over) == 431);  // nothing past the bound is read, even when it is there
    CHECK(bad_status(std::string(echod::max_http_head - 1, 'a') + "\r\n\r\n") == 431);
    CHECK(bad_status(std::string(echod::max_http_head, '\n')) == 431);  // empty lines count too
    CHECK(bad_status(std::string(echod::max_http_head, 'G')) == 431);
}

TEST_CASE("responses: status line, fields, the body unless HEAD") {
    echod::HttpResponse ok;
    ok.content_type = "text/plain; version=0.0.4; charset=utf-8";
    ok.body = "echod_connections 1\n";
    ok.date = "Sun, 06 Nov 1994 08:49:37 GMT";
    CHECK(echod::format_http_response(ok) ==
          "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
          "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 20\r\n"
          "Connection: keep-alive\r\n\r\nechod_connections 1\n");

    ok.head_only = true;
    ok.close = true;
    ok.date = "";
    CHECK(echod::format_http_response(ok) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 20\r\n"
          "Connection: close\r\n\r\n");

    echod::HttpResponse not_allowed;
    not_allowed.status = 405;
    not_allowed.body = "x\n";
    std::string text = echod::format_http_response(not_allowed);
    CHECK(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    CHECK(text.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);

    for (int status : {400, 404, 408, 431, 505}) {
        CHECK_FALSE(echod::http_reason_phrase(status).empty());
    }
}

TEST_CASE("http_date is RFC 9110's IMF-fixdate in UTC") {
    CHECK(echod::http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(echod::http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
}
