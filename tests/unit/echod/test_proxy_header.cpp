#include "doctest_include.h"

#include "common/address.h"
#include "echod/proxy_header.h"

#include <string>
#include <string_view>

using echod::ProxyHeader;
using echod::ProxyHeaderParser;
using Status = ProxyHeaderParser::Status;

namespace {

const std::string v2_signature("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header: signature, version/command, family/protocol, the length of
// body, body.
std::string v2(unsigned char ver_cmd, unsigned char family, const std::string& body) {
    std::string header = v2_signature;
    header += static_cast<char>(ver_cmd);
    header += static_cast<char>(family);
    header += static_cast<char>(body.size() >> 8);
    header += static_cast<char>(body.size() & 0xFF);
    return header + body;
}

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) {
        out += static_cast<char>(v);
    }
    return out;
}

// 192.0.2.1:56324 -> 198.51.100.7:7007
const std::string ipv4_block = bytes({192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0x1B, 0x5F});
// [2001:db8::1]:443 -> [2001:db8::2]:7007
const std::string ipv6_block = bytes({0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    1,    0x20, 0x01,
                                      0x0D, 0xB8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x01, 0xBB, 0x1B, 0x5F});

std::string address(const sockaddr_storage& a) {
    return common::format_address(reinterpret_cast<const sockaddr*>(&a));
}

// The whole input at once.
ProxyHeaderParser::Step parse(ProxyHeaderParser& parser, std::string_view input) {
    return parser.feed({input.data(), input.size()});
}

// The status after input fed one byte at a time, and how many bytes were
// taken before it was known.
ProxyHeaderParser::Step parse_bytewise(ProxyHeaderParser& parser, std::string_view input) {
    std::size_t used = 0;
    for (char c : input) {
        auto step = parser.feed({&c, 1});
        used += step.used;
        if (step.status != Status::need_more) {
            return {step.status, used};
        }
    }
    return {Status::need_more, used};
}

std::string error_of(std::string_view input) {
    ProxyHeaderParser parser;
    auto step = parse(parser, input);
    REQUIRE(step.status == Status::error);
    return parser.error();
}

}  // namespace

TEST_CASE("v1 TCP4: the client and the address it connected to") {
    std::string line = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 7007\r\n";
    ProxyHeaderParser parser;
    auto step = parse(parser, line + "hello");
    REQUIRE(step.status == Status::done);
    CHECK(step.used == line.size());
    const ProxyHeader& h = parser.header();
    CHECK(h.version == 1);
    CHECK_FALSE(h.local);
    CHECK(h.length == line.size());
    CHECK(address(h.source) == "192.0.2.1:56324");
    CHECK(address(h.destination) == "198.51.100.7:7007");
}

TEST_CASE("v1 TCP6, the longest addresses and ports") {
    ProxyHeaderParser parser;
    REQUIRE(parse(parser, "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n").status == Status::done);
    CHECK(address(parser.header().source) == "[2001:db8::1]:65535");
    CHECK(address(parser.header().destination) == "[::1]:0");

    std::string full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    std::string line = "PROXY TCP6 " + full + " " + full + " 65535 65535\r\n";
    CHECK(line.size() == 104);
    ProxyHeaderParser longest;
    REQUIRE(parse(longest, line).status == Status::done);
    CHECK(address(longest.header().source) == "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

TEST_CASE("v1 UNKNOWN: short or long, the rest of the line ignored, the socket's own peer stands") {
    for (std::string line : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN whatever follows, up to CRLF\r\n"}) {
        CAPTURE(line);
        ProxyHeaderParser parser;
        auto step = parse(parser, line + "data");
        REQUIRE(step.status == Status::done);
        CHECK(step.used == line.size());
        CHECK(parser.header().local);
        CHECK(parser.header().version == 1);
    }
    // The worst case of the spec is exactly 107 bytes, and accepted.
    std::string full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    std::string worst = "PROXY UNKNOWN " + full + " " + full + " 65535 65535\r\n";
    REQUIRE(worst.size() == echod::proxy_v1_max);
    ProxyHeaderParser parser;
    CHECK(parse(parser, worst).status == Status::done);
}

TEST_CASE("v1 one byte at a time: need more until the LF") {
    std::string line = "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n";
    ProxyHeaderParser parser;
    for (std::size_t i = 0; i + 1 < line.size(); ++i) {
        auto step = parser.feed({line.data() + i, 1});
        REQUIRE(step.status == Status::need_more);
        CHECK(step.used == 1);
    }
    CHECK(parser.received() == line.size() - 1);
    auto last = parser.feed({line.data() + line.size() - 1, 1});
    CHECK(last.status == Status::done);
    CHECK(last.used == 1);
    CHECK(address(parser.header().source) == "10.0.0.1:1");
    // Done is done: more bytes are not the header's.
    auto after = parser.feed({"x", 1});
    CHECK(after.status == Status::done);
    CHECK(after.used == 0);
}

TEST_CASE("every split of a header into two pieces gives the same result") {
    std::string tlvs = bytes({0x04, 0, 3, 0, 0, 0, 0x05, 0, 2, 'i', 'd'});
    for (std::string header : {std::string("PROXY TCP4 192.0.2.1 198.51.100.7 56324 7007\r\n"),
                               v2(0x21, 0x11, ipv4_block + tlvs), v2(0x21, 0x21, ipv6_block)}) {
        std::string input = header + "after";
        for (std::size_t split = 0; split <= input.size(); ++split) {
            CAPTURE(split);
            ProxyHeaderParser parser;
            auto first = parser.feed({input.data(), split});
            std::size_t used = first.used;
            if (first.status == Status::need_more) {
                auto second = parser.feed({input.data() + split, input.size() - split});
                used += second.used;
            }
            REQUIRE(parser.status() == Status::done);
            CHECK(used == header.size());
            CHECK(parser.header().length == header.size());
            CHECK_FALSE(parser.header().local);
        }
    }
}

TEST_CASE("v1: anything but the exact grammar is an error") {
    SUBCASE("plain bytes are turned away at the first one") {
        ProxyHeaderParser parser;
        auto step = parse_bytewise(parser, "hello\n");
        CHECK(step.status == Status::error);
        CHECK(step.used == 1);
        CHECK(std::string(parser.error()) == "not a PROXY protocol header");
        ProxyHeaderParser http;
        CHECK(parse_bytewise(http, "PUT / HTTP/1.1\r\n").used == 2);
    }
    SUBCASE("lower case, or no space after PROXY") {
        CHECK(error_of("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n") == "not a PROXY protocol header");
        CHECK(error_of("PROXY\r\n") == "not a PROXY protocol header");
    }
    SUBCASE("protocol") {
        for (const char* line : {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
                                 "PROXY UNKNOWNX\r\n", "PROXY \r\n", "PROXY TCP4\r\n"}) {
            CAPTURE(line);
            CHECK(error_of(line) == "v1: the protocol is not TCP4, TCP6 or UNKNOWN");
        }
    }
    SUBCASE("fields") {
        for (const char* line : {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
                                 "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"}) {
            CAPTURE(line);
            std::string error = error_of(line);
            CHECK((error == "v1: not four fields after the protocol" || error == "v1: a bad TCP4 address or port"));
        }
    }
    SUBCASE("addresses and ports") {
        for (const char* line : {
                 "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",    // over 255
                 "PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",     // a leading zero
                 "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",        // three parts
                 "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",    // five
                 "PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n",       // an empty part
                 "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",  // port over 65535
                 "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",     // a leading zero
                 "PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n",     // a sign
                 "PROXY TCP4 ::1 ::1 1 2\r\n",              // IPv6 in TCP4
                 "PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
             }) {
            CAPTURE(line);
            CHECK(error_of(line) == "v1: a bad TCP4 address or port");
        }
        for (const char* line : {"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP6 ::1 ::g 1 2\r\n",
                                 "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "PROXY TCP6 ::1 ::1 1 99999\r\n"}) {
            CAPTURE(line);
            CHECK(error_of(line) == "v1: a bad TCP6 address or port");
        }
    }
    SUBCASE("line ends: CRLF and nothing else, within 107 bytes") {
        CHECK(error_of("PROXY UNKNOWN\n") == "v1: a LF without CR");
        CHECK(error_of("PROXY UNKNOWN\rx\n") == "v1: a CR without LF");
        CHECK(error_of("PROXY UNKNOWN\r\r\n") == "v1: a CR without LF");
        std::string long_line = "PROXY UNKNOWN " + std::string(200, 'x');
        ProxyHeaderParser parser;
        auto step = parse_bytewise(parser, long_line);
        CHECK(step.status == Status::error);
        CHECK(step.used == echod::proxy_v1_max);
        CHECK(std::string(parser.error()) == "v1: no CRLF within 107 bytes");
        // 106 bytes and CR, LF as the 108th: too long as well.
        std::string just_over = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
        REQUIRE(just_over.size() == 108);
        CHECK(error_of(just_over) == "v1: no CRLF within 107 bytes");
    }
    SUBCASE("an error stays an error") {
        ProxyHeaderParser parser;
        REQUIRE(parse(parser, "x").status == Status::error);
        auto again = parse(parser, "PROXY UNKNOWN\r\n");
        CHECK(again.status == Status::error);
        CHECK(again.used == 0);
    }
}

TEST_CASE("v2 PROXY over IPv4 with TLVs: the TLVs are skipped") {
    // NOOP with 3 bytes, UNIQUE_ID with 2, AUTHORITY with none.
    std::string tlvs = bytes({0x04, 0, 3, 0, 0, 0, 0x05, 0, 2, 'i', 'd', 0x02, 0, 0});
    std::string header = v2(0x21, 0x11, ipv4_block + tlvs);
    ProxyHeaderParser parser;
    auto step = parse(parser, header + "hello");
    REQUIRE(step.status == Status::done);
    CHECK(step.used == header.size());
    const ProxyHeader& h = parser.header();
    CHECK(h.version == 2);
    CHECK_FALSE(h.local);
    CHECK(h.length == header.size());
    CHECK(address(h.source) == "192.0.2.1:56324");
    CHECK(address(h.destination) == "198.51.100.7:7007");
}

TEST_CASE("v2 PROXY over IPv6, UDP too, one byte at a time") {
    for (unsigned char family : {0x21, 0x22}) {
        std::string header = v2(0x21, family, ipv6_block);
        ProxyHeaderParser parser;
        auto step = parse_bytewise(parser, header + "x");
        REQUIRE(step.status == Status::done);
        CHECK(step.used == header.size());
        CHECK(address(parser.header().source) == "[2001:db8::1]:443");
        CHECK(address(parser.header().destination) == "[2001:db8::2]:7007");
    }
}

TEST_CASE("v2 LOCAL, unspecified and Unix families: accepted, the socket's own peer stands") {
    SUBCASE("LOCAL, no block") {
        std::string header = v2(0x20, 0x00, "");
        ProxyHeaderParser parser;
        auto step = parse(parser, header + "data");
        REQUIRE(step.status == Status::done);
        CHECK(step.used == 16);
        CHECK(parser.header().local);
    }
    SUBCASE("LOCAL with a block (and any family): skipped whole, whatever it holds") {
        std::string header = v2(0x20, 0xFF, ipv4_block + "\x01\x02");
        ProxyHeaderParser parser;
        auto step = parse_bytewise(parser, header);
        REQUIRE(step.status == Status::done);
        CHECK(step.used == header.size());
        CHECK(parser.header().local);
    }
    SUBCASE("PROXY with AF_UNSPEC or an unspecified protocol") {
        for (unsigned char family : {0x00, 0x10, 0x20, 0x01}) {
            ProxyHeaderParser parser;
            REQUIRE(parse(parser, v2(0x21, family, ipv4_block)).status == Status::done);
            CHECK(parser.header().local);
        }
    }
    SUBCASE("Unix stream: two 108-byte paths") {
        ProxyHeaderParser parser;
        REQUIRE(parse(parser, v2(0x21, 0x31, std::string(216, 'p'))).status == Status::done);
        CHECK(parser.header().local);
    }
}

TEST_CASE("v2: a bad signature, version, command, family, or length is an error") {
    SUBCASE("signature, turned away at the first wrong byte") {
        std::string header = v2(0x21, 0x11, ipv4_block);
        header[7] = 'q';
        ProxyHeaderParser parser;
        auto step = parse_bytewise(parser, header);
        CHECK(step.status == Status::error);
        CHECK(step.used == 8);
        CHECK(std::string(parser.error()) == "not a PROXY protocol header");
    }
    SUBCASE("version") {
        CHECK(error_of(v2(0x11, 0x11, ipv4_block)) == "v2: the version is not 2");
        CHECK(error_of(v2(0x31, 0x11, ipv4_block)) == "v2: the version is not 2");
    }
    SUBCASE("command") {
        CHECK(error_of(v2(0x22, 0x11, ipv4_block)) == "v2: the command is neither LOCAL nor PROXY");
        CHECK(error_of(v2(0x2F, 0x11, ipv4_block)) == "v2: the command is neither LOCAL nor PROXY");
    }
    SUBCASE("family and protocol") {
        CHECK(error_of(v2(0x21, 0x41, ipv4_block)) == "v2: an unknown address family or protocol");
        CHECK(error_of(v2(0x21, 0x13, ipv4_block)) == "v2: an unknown address family or protocol");
    }
    SUBCASE("the addresses must fit in the stated length") {
        CHECK(error_of(v2(0x21, 0x11, ipv4_block.substr(0, 11))) ==
              "v2: the addresses do not fit in the stated length");
        CHECK(error_of(v2(0x21, 0x21, ipv4_block)) == "v2: the addresses do not fit in the stated length");
    }
    SUBCASE("a TLV may not run past the stated length") {
        CHECK(error_of(v2(0x21, 0x11, ipv4_block + bytes({0x04, 0, 5, 0, 0}))) ==
              "v2: a TLV runs past the stated length");
        CHECK(error_of(v2(0x21, 0x11, ipv4_block + bytes({0x04}))) == "v2: a TLV runs past the stated length");
        CHECK(error_of(v2(0x21, 0x11, ipv4_block + bytes({0x04, 0}))) == "v2: a TLV runs past the stated length");
    }
    SUBCASE("4 KiB at most, told as soon as the length is read") {
        // 16 fixed bytes, 12 of addresses, a NOOP TLV of 3 + 4065.
        std::string fits = v2(0x21, 0x11, ipv4_block + bytes({0x04, 0x0F, 0xE1}) + std::string(0x0FE1, '\0'));
        REQUIRE(fits.size() == echod::proxy_v2_max);
        ProxyHeaderParser parser;
        CHECK(parse(parser, fits).status == Status::done);

        std::string over = v2(0x21, 0x11, std::string(echod::proxy_v2_max - 16 + 1, '\0'));
        ProxyHeaderParser too_long;
        auto step = parse_bytewise(too_long, over);
        CHECK(step.status == Status::error);
        CHECK(step.used == 16);
        CHECK(std::string(too_long.error()) == "v2: longer than 4 KiB");
    }
    SUBCASE("a header cut short is not done") {
        std::string header = v2(0x21, 0x11, ipv4_block + bytes({0x04, 0, 3, 0, 0, 0}));
        ProxyHeaderParser parser;
        auto step = parse(parser, header.substr(0, header.size() - 1));
        CHECK(step.status == Status::need_more);
        CHECK(parser.received() == header.size() - 1);
    }
}
