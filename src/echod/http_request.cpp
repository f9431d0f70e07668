#include "echod/http_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>

namespace echod {
namespace {

constexpr std::string_view metrics_path = "/metrics";

// RFC 9110 5.6.2: tchar.
bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
    if (text.empty()) {
        return false;
    }
    for (char c : text) {
        if (!is_tchar(c)) {
            return false;
        }
    }
    return true;
}

// A field value's bytes: visible ASCII, space, tab and obs-text (0x80..0xff).
bool is_field_value(std::string_view text) {
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 && byte != '\t') {
            return false;
        }
        if (byte == 0x7f) {
            return false;
        }
    }
    return true;
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool istarts_with(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view trim_ows(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

// The line's text without its LF and a CR before it.
std::string_view without_eol(std::string_view line) {
    if (!line.empty() && line.back() == '\n') {
        line.remove_suffix(1);
    }
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    return line;
}

HttpVerdict bad(int status, std::string reason) {
    HttpVerdict verdict;
    verdict.kind = HttpVerdict::Kind::bad;
    verdict.status = status;
    verdict.reason = std::move(reason);
    return verdict;
}

// The path of a request target (RFC 9112 3.2): origin-form "/p?q",
// absolute-form "http://host/p?q", or asterisk-form "*"; nullopt for
// anything else.
std::optional<std::string_view> target_path(std::string_view target) {
    auto without_query = [](std::string_view path) { return path.substr(0, path.find('?')); };
    if (target.front() == '/') {
        return without_query(target);
    }
    if (target == "*") {
        return target;
    }
    for (std::string_view scheme : {"http://", "https://"}) {
        if (istarts_with(target, scheme)) {
            std::string_view rest = target.substr(scheme.size());
            std::size_t slash = rest.find('/');
            std::size_t query = rest.find('?');
            if (rest.empty() || slash == 0 || query == 0) {
                return std::nullopt;  // no host
            }
            if (slash == std::string_view::npos || query < slash) {
                return std::string_view("/");  // "http://host" or "http://host?q"
            }
            return without_query(rest.substr(slash));
        }
    }
    return std::nullopt;
}

// METHOD SP TARGET SP HTTP/1.x, into request. A bad verdict on failure,
// else an incomplete one (nothing to say).
HttpVerdict read_request_line(std::string_view line, HttpRequest& request) {
    std::size_t first = line.find(' ');
    std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    if (second == std::string_view::npos) {
        return bad(400, "request line is not METHOD TARGET VERSION");
    }
    std::string_view method = line.substr(0, first);
    std::string_view target = line.substr(first + 1, second - first - 1);
    std::string_view version = line.substr(second + 1);
    if (!is_token(method)) {
        return bad(400, "method is not a token");
    }
    if (target.empty()) {
        return bad(400, "empty request target");
    }
    for (char c : target) {
        if (c <= ' ' || c >= 0x7f) {
            return bad(400, "request target has a byte that is not visible ASCII");
        }
    }
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (version.size() != 8 || !version.starts_with("HTTP/") || !digit(version[5]) || version[6] != '.' ||
        !digit(version[7])) {
        return bad(400, "version is not HTTP/x.y");
    }
    if (version[5] != '1') {
        return bad(505, fmt::format("{} is not supported, only HTTP/1.x", version));
    }
    std::optional<std::string_view> path = target_path(target);
    if (!path) {
        return bad(400, "request target is not a path");
    }
    request.method = method == "GET" ? HttpMethod::get : method == "HEAD" ? HttpMethod::head : HttpMethod::other;
    request.path = *path;
    request.minor_version = version[7] - '0';
    return {};
}

// The header fields of a head (the lines after the request line, up to
// the blank one), into request. A bad verdict or an incomplete one, as
// above.
HttpVerdict read_fields(std::string_view fields, HttpRequest& request) {
    int hosts = 0;
    bool close = false;
    bool keep_alive = false;
    std::optional<std::string_view> content_length;
    while (!fields.empty()) {
        std::size_t eol = fields.find('\n');
        std::string_view line = without_eol(fields.substr(0, eol + 1));
        fields.remove_prefix(eol + 1);
        if (line.empty()) {
            break;  // the blank line
        }
        if (line.front() == ' ' || line.front() == '\t') {
            return bad(400, "folded header line");
        }
        std::size_t colon = line.find(':');
        std::string_view name = line.substr(0, colon);
        if (colon == std::string_view::npos || !is_token(name)) {
            return bad(400, "header line is not NAME: VALUE");
        }
        std::string_view value = trim_ows(line.substr(colon + 1));
        if (!is_field_value(value)) {
            return bad(400, "control byte in a header value");
        }
        if (iequals(name, "host")) {
            ++hosts;
        } else if (iequals(name, "connection")) {
            while (!value.empty()) {
                std::size_t comma = value.find(',');
                std::string_view option = trim_ows(value.substr(0, comma));
                close = close || iequals(option, "close");
                keep_alive = keep_alive || iequals(option, "keep-alive");
                value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
            }
        } else if (iequals(name, "content-length")) {
            if (value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string_view::npos) {
                return bad(400, "Content-Length is not a number");
            }
            if (content_length && *content_length != value) {
                return bad(400, "two different Content-Length values");
            }
            content_length = value;
            request.has_body = request.has_body || value.find_first_not_of('0') != std::string_view::npos;
        } else if (iequals(name, "transfer-encoding")) {
            request.has_body = true;
        }
    }
    if (hosts > 1) {
        return bad(400, "more than one Host");
    }
    if (hosts == 0 && request.minor_version >= 1) {
        return bad(400, "HTTP/1.1 request without Host");
    }
    request.keep_alive = !close && !request.has_body && (request.minor_version >= 1 || keep_alive);
    return {};
}

}  // namespace

HttpVerdict HttpRequestReader::read(std::string_view received) {
    // Nothing past the bound is looked at, however much the caller holds.
    std::size_t end = std::min(received.size(), max_http_head);
    for (; scanned_ < end; ++scanned_) {
        char c = received[scanned_];
        if (c == '\r') {
            if (scanned_ + 1 == end) {
                break;  // its LF may come next (or the head is too long)
            }
            if (received[scanned_ + 1] != '\n') {
                return bad(400, "CR without LF");
            }
            continue;
        }
        if (c != '\n') {
            continue;
        }
        std::string_view line = without_eol(received.substr(line_start_, scanned_ + 1 - line_start_));
        line_start_ = scanned_ + 1;
        if (!line.empty() && !started_) {
            // The request line: a bad one is answered now, not after the
            // fields (or the deadline).
            started_ = true;
            HttpRequest request;
            if (HttpVerdict verdict = read_request_line(line, request); verdict.kind == HttpVerdict::Kind::bad) {
                return verdict;
            }
        } else if (line.empty() && !started_) {
            head_start_ = line_start_;  // an empty line before the request line
        } else if (line.empty()) {
            HttpVerdict verdict;
            std::string_view head = received.substr(head_start_, line_start_ - head_start_);
            std::size_t eol = head.find('\n');
            if (HttpVerdict failed = read_request_line(without_eol(head.substr(0, eol + 1)), verdict.request);
                failed.kind == HttpVerdict::Kind::bad) {
                return failed;
            }
            if (HttpVerdict failed = read_fields(head.substr(eol + 1), verdict.request);
                failed.kind == HttpVerdict::Kind::bad) {
                return failed;
            }
            verdict.kind = HttpVerdict::Kind::complete;
            verdict.request.head_length = line_start_;
            return verdict;
        }
    }
    if (received.size() >= max_http_head) {
        return bad(431, fmt::format("request line and headers over {} bytes", max_http_head));
    }
    return {};
}

int metrics_status(const HttpRequest& request) {
    if (request.method == HttpMethod::other) {
        return 405;
    }
    return request.path == metrics_path ? 200 : 404;
}

std::string_view http_reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 431:
            return "Request Header Fields Too Large";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "";
    }
}

std::string format_http_response(const HttpResponse& response) {
    std::string out = fmt::format("HTTP/1.1 {} {}\r\n", response.status, http_reason_phrase(response.status));
    if (!response.date.empty()) {
        out += fmt::format("Date: {}\r\n", response.date);
    }
    out += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n", response.content_type, response.body.size());
    if (response.status == 405) {
        out += "Allow: GET, HEAD\r\n";
    }
    out += response.close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
    if (!response.head_only) {
        out += response.body;
    }
    return out;
}

std::string http_date(std::time_t time) {
    // Not strftime: its day and month names follow the locale.
    constexpr std::array<std::string_view, 7> days = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    constexpr std::array<std::string_view, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm utc{};
    ::gmtime_r(&time, &utc);
    return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} GMT", days.at(static_cast<std::size_t>(utc.tm_wday)),
                       utc.tm_mday, months.at(static_cast<std::size_t>(utc.tm_mon)), utc.tm_year + 1900, utc.tm_hour,
                       utc.tm_min, utc.tm_sec);
}

}  // namespace echod
