// libFuzzer target: echod's HTTP/1.x request reader (--metrics-listen).
//
// The first byte picks how the rest arrives: in pieces of 1 to 16 bytes
// (sizes drawn from that byte), as a slow or hostile client sends them.
// Whatever the bytes, the reader must not crash, must give the same verdict
// whole and in pieces, must stop at 8 KiB, and a complete head must read the
// same again on its own; the answer it leads to must be well formed.
#include "echod/http_request.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

bool same(const echod::HttpVerdict& a, const echod::HttpVerdict& b) {
    return a.kind == b.kind && a.status == b.status && a.reason == b.reason && a.request.method == b.request.method &&
           a.request.path == b.request.path && a.request.minor_version == b.request.minor_version &&
           a.request.keep_alive == b.request.keep_alive && a.request.has_body == b.request.has_body &&
           a.request.head_length == b.request.head_length;
}

// The verdict of the first call that is not "incomplete", feeding text the
// way a connection does: a growing prefix.
echod::HttpVerdict read_in_pieces(std::string_view text, std::uint8_t seed) {
    echod::HttpRequestReader reader;
    std::size_t given = 0;
    std::uint32_t state = seed | 1U;
    while (given < text.size()) {
        state = state * 1103515245U + 12345U;
        given = std::min(text.size(), given + 1 + ((state >> 16U) % 16));
        echod::HttpVerdict verdict = reader.read(text.substr(0, given));
        if (verdict.kind != echod::HttpVerdict::Kind::incomplete) {
            return verdict;
        }
    }
    return reader.read(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    echod::HttpRequestReader whole_reader;
    echod::HttpVerdict whole = whole_reader.read(text);
    check(same(whole, read_in_pieces(text, data[0])));

    using Kind = echod::HttpVerdict::Kind;
    switch (whole.kind) {
        case Kind::incomplete:
            check(text.size() < echod::max_http_head);
            break;
        case Kind::bad:
            check(whole.status == 400 || whole.status == 431 || whole.status == 505);
            check(whole.status != 431 || text.size() >= echod::max_http_head);
            check(!whole.reason.empty());
            for (char c : whole.reason) {
                check(c >= 0x20 && c < 0x7f);  // it goes into a log line and a body
            }
            break;
        case Kind::complete: {
            const echod::HttpRequest& request = whole.request;
            check(request.head_length <= std::min(text.size(), echod::max_http_head));
            check(text[request.head_length - 1] == '\n');
            check(request.minor_version >= 0 && request.minor_version <= 9);
            check(!request.path.empty());
            check(!(request.has_body && request.keep_alive));
            echod::HttpRequestReader again;
            check(same(whole, again.read(text.substr(0, request.head_length))));

            echod::HttpResponse response;
            response.status = echod::metrics_status(request);
            check(response.status == 200 || response.status == 404 || response.status == 405);
            response.body = "body\n";
            response.head_only = request.method == echod::HttpMethod::head;
            response.close = !request.keep_alive;
            std::string answer = echod::format_http_response(response);
            check(answer.starts_with("HTTP/1.1 "));
            std::size_t head_end = answer.find("\r\n\r\n");
            check(head_end != std::string::npos);
            check(answer.size() - head_end - 4 == (response.head_only ? 0 : response.body.size()));
            break;
        }
    }
    return 0;
}
