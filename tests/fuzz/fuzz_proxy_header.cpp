// libFuzzer target: the PROXY protocol header parser, whole against pieces.
//
// The first byte of each input picks the size of the pieces (1..16 bytes);
// the rest is what a peer sent. Parsed at once and parsed in pieces, it
// must give the same answer: the same status, the same header bytes, the
// same client. And whatever it holds, the answer is bounded: a header is
// done or refused within 4 KiB (v1 within 107 bytes), and a done header's
// length is the bytes taken.
#include "echod/proxy_header.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

struct Outcome {
    echod::ProxyHeaderParser::Status status;
    std::size_t used;
};

Outcome parse(echod::ProxyHeaderParser& parser, const char* data, std::size_t size, std::size_t piece) {
    std::size_t used = 0;
    for (std::size_t at = 0; at < size; at += piece) {
        std::size_t n = size - at < piece ? size - at : piece;
        auto step = parser.feed({data + at, n});
        check(step.used <= n);
        used += step.used;
        if (step.status != echod::ProxyHeaderParser::Status::need_more) {
            // Once decided, more bytes change nothing.
            auto again = parser.feed({data, size});
            check(again.status == step.status && again.used == 0);
            return {step.status, used};
        }
        check(step.used == n);
    }
    return {echod::ProxyHeaderParser::Status::need_more, used};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    std::size_t piece = 1 + data[0] % 16;
    const char* input = reinterpret_cast<const char*>(data + 1);
    std::size_t length = size - 1;

    using Status = echod::ProxyHeaderParser::Status;
    echod::ProxyHeaderParser whole;
    echod::ProxyHeaderParser pieces;
    Outcome a = parse(whole, input, length, length == 0 ? 1 : length);
    Outcome b = parse(pieces, input, length, piece);
    check(a.status == b.status && a.used == b.used);
    check(whole.received() == pieces.received());

    switch (a.status) {
        case Status::need_more:
            check(a.used == length && whole.received() == length);
            check(length < echod::proxy_v2_max);
            break;
        case Status::error:
            check(whole.received() <= echod::proxy_v2_max);
            check(std::strcmp(whole.error(), pieces.error()) == 0 && whole.error()[0] != '\0');
            break;
        case Status::done: {
            const echod::ProxyHeader& h = whole.header();
            const echod::ProxyHeader& g = pieces.header();
            check(h.length == a.used && whole.received() == a.used);
            check(h.version == 1 ? h.length <= echod::proxy_v1_max : h.version == 2 && h.length <= echod::proxy_v2_max);
            check(h.version == g.version && h.local == g.local && h.length == g.length);
            if (!h.local) {
                check(h.source.ss_family == AF_INET || h.source.ss_family == AF_INET6);
                check(h.destination.ss_family == h.source.ss_family);
                check(std::memcmp(&h.source, &g.source, sizeof h.source) == 0);
                check(std::memcmp(&h.destination, &g.destination, sizeof h.destination) == 0);
            }
            break;
        }
    }
    return 0;
}
