#include "echod/proxy_header.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace echod {
namespace {

constexpr std::string_view v1_signature = "PROXY ";
constexpr std::array<unsigned char, 12> v2_signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                        0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t v2_fixed = 16;  // signature, version/command, family/protocol, length

// v2's address blocks: two addresses and two ports.
constexpr std::size_t v2_ipv4_block = 2 * 4 + 2 * 2;
constexpr std::size_t v2_ipv6_block = 2 * 16 + 2 * 2;

// The spec's canonical forms: no leading zeros, which would read as octal
// elsewhere.
bool is_canonical_number(std::string_view text, std::size_t max_digits) {
    if (text.empty() || text.size() > max_digits || (text.size() > 1 && text[0] == '0')) {
        return false;
    }
    return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

unsigned to_number(std::string_view digits) {
    unsigned value = 0;
    for (char c : digits) {
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value;
}

bool parse_port(std::string_view text, std::uint16_t& port) {
    if (!is_canonical_number(text, 5) || to_number(text) > 65535) {
        return false;
    }
    port = static_cast<std::uint16_t>(to_number(text));
    return true;
}

// Exactly four decimal numbers 0..255 with one dot between each.
bool parse_ipv4(std::string_view text, in_addr& out) {
    std::array<unsigned char, 4> octets{};
    for (std::size_t i = 0; i < octets.size(); ++i) {
        std::size_t dot = i < 3 ? text.find('.') : text.size();
        if (dot == std::string_view::npos) {
            return false;
        }
        std::string_view part = text.substr(0, dot);
        if (!is_canonical_number(part, 3) || to_number(part) > 255) {
            return false;
        }
        octets[i] = static_cast<unsigned char>(to_number(part));
        text.remove_prefix(i < 3 ? dot + 1 : dot);
    }
    std::memcpy(&out, octets.data(), octets.size());
    return true;
}

bool parse_ipv6(std::string_view text, in6_addr& out) {
    std::array<char, INET6_ADDRSTRLEN> copy{};  // inet_pton wants a C string
    if (text.empty() || text.size() >= copy.size() ||
        text.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
        return false;
    }
    std::memcpy(copy.data(), text.data(), text.size());
    return ::inet_pton(AF_INET6, copy.data(), &out) == 1;
}

// "192.0.2.1" and "56324" (or the IPv6 form) into a socket address.
bool make_v1_address(bool ipv6, std::string_view host, std::string_view port_text, sockaddr_storage& out) {
    std::uint16_t port = 0;
    if (!parse_port(port_text, port)) {
        return false;
    }
    std::memset(&out, 0, sizeof out);
    if (ipv6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&out);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        return parse_ipv6(host, a->sin6_addr);
    }
    auto* a = reinterpret_cast<sockaddr_in*>(&out);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    return parse_ipv4(host, a->sin_addr);
}

// A v2 address and port, in network order as they came, into a socket address.
void make_v2_address(const unsigned char* address, std::size_t size, const unsigned char* port, sockaddr_storage& out) {
    std::memset(&out, 0, sizeof out);
    if (size == 16) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&out);
        a->sin6_family = AF_INET6;
        std::memcpy(&a->sin6_addr, address, size);
        std::memcpy(&a->sin6_port, port, 2);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&out);
        a->sin_family = AF_INET;
        std::memcpy(&a->sin_addr, address, size);
        std::memcpy(&a->sin_port, port, 2);
    }
}

}  // namespace

ProxyHeaderParser::Step ProxyHeaderParser::feed(std::span<const char> input) {
    std::size_t used = 0;
    while (used < input.size() && status_ == Status::need_more) {
        if (phase_ == Phase::v2_skip) {
            // TLV values are skipped whole, not byte by byte.
            std::size_t n = std::min(skip_, input.size() - used);
            used += n;
            received_ += n;
            skip_ -= n;
            if (skip_ == 0) {
                after_v2_block();
            }
            continue;
        }
        take(static_cast<unsigned char>(input[used]));
        ++used;
    }
    return {status_, used};
}

void ProxyHeaderParser::take(unsigned char byte) {
    ++received_;
    switch (phase_) {
        case Phase::first:
            if (byte == static_cast<unsigned char>(v1_signature[0])) {
                phase_ = Phase::v1;
                take_v1(byte);
            } else if (byte == v2_signature[0]) {
                phase_ = Phase::v2_fixed;
                take_v2_fixed(byte);
            } else {
                fail("not a PROXY protocol header");
            }
            return;
        case Phase::v1:
            take_v1(byte);
            return;
        case Phase::v2_fixed:
            take_v2_fixed(byte);
            return;
        case Phase::v2_address:
            bytes_[kept_++] = byte;
            if (kept_ == v2_fixed + address_) {
                after_v2_block();
            }
            return;
        case Phase::v2_tlv:
            take_v2_tlv(byte);
            return;
        case Phase::v2_skip:
            return;  // feed skips these in bulk
    }
}

void ProxyHeaderParser::take_v1(unsigned char byte) {
    bytes_[kept_++] = byte;
    if (kept_ <= v1_signature.size()) {
        if (byte != static_cast<unsigned char>(v1_signature[kept_ - 1])) {
            fail("not a PROXY protocol header");
        }
        return;
    }
    unsigned char before = bytes_[kept_ - 2];
    if (byte == '\n') {
        if (before != '\r') {
            fail("v1: a LF without CR");
            return;
        }
        finish_v1();
        return;
    }
    if (before == '\r') {
        fail("v1: a CR without LF");
        return;
    }
    if (kept_ == proxy_v1_max) {
        fail("v1: no CRLF within 107 bytes");
    }
}

void ProxyHeaderParser::finish_v1() {
    // Everything between "PROXY " and CRLF.
    std::string_view rest(reinterpret_cast<const char*>(bytes_.data()) + v1_signature.size(),
                          kept_ - v1_signature.size() - 2);
    header_.version = 1;
    header_.length = kept_;
    constexpr std::string_view unknown = "UNKNOWN";
    if (rest.starts_with(unknown) && (rest.size() == unknown.size() || rest[unknown.size()] == ' ')) {
        // The sender could not tell: the rest of the line is ignored.
        header_.local = true;
        status_ = Status::done;
        return;
    }
    bool ipv6 = rest.starts_with("TCP6 ");
    if (!ipv6 && !rest.starts_with("TCP4 ")) {
        fail("v1: the protocol is not TCP4, TCP6 or UNKNOWN");
        return;
    }
    rest.remove_prefix(5);
    // Source address, destination address, source port, destination port,
    // exactly one space apart.
    std::array<std::string_view, 4> fields;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        std::size_t space = i < 3 ? rest.find(' ') : rest.size();
        if (space == std::string_view::npos || (i == 3 && rest.find(' ') != std::string_view::npos)) {
            fail("v1: not four fields after the protocol");
            return;
        }
        fields[i] = rest.substr(0, space);
        rest.remove_prefix(i < 3 ? space + 1 : space);
    }
    if (!make_v1_address(ipv6, fields[0], fields[2], header_.source) ||
        !make_v1_address(ipv6, fields[1], fields[3], header_.destination)) {
        fail(ipv6 ? "v1: a bad TCP6 address or port" : "v1: a bad TCP4 address or port");
        return;
    }
    header_.local = false;
    status_ = Status::done;
}

void ProxyHeaderParser::take_v2_fixed(unsigned char byte) {
    bytes_[kept_++] = byte;
    std::size_t at = kept_ - 1;
    if (at < v2_signature.size()) {
        if (byte != v2_signature[at]) {
            fail("not a PROXY protocol header");
        }
        return;
    }
    bool proxy = (bytes_[12] & 0x0F) == 1;  // else LOCAL
    if (at == 12) {
        if ((byte >> 4) != 2) {
            fail("v2: the version is not 2");
        } else if ((byte & 0x0F) > 1) {
            fail("v2: the command is neither LOCAL nor PROXY");
        }
        return;
    }
    if (at == 13) {
        // LOCAL ignores the family; PROXY's must be one the spec defines.
        if (proxy && ((byte >> 4) > 3 || (byte & 0x0F) > 2)) {
            fail("v2: an unknown address family or protocol");
        }
        return;
    }
    if (at == 14) {
        return;
    }
    stated_ = static_cast<std::size_t>(bytes_[14]) << 8 | byte;
    if (v2_fixed + stated_ > proxy_v2_max) {
        fail("v2: longer than 4 KiB");
        return;
    }
    // Only TCP or UDP over IPv4 or IPv6 names a client we can show; LOCAL,
    // an unspecified family or protocol, and Unix sockets keep the
    // socket's own peer, and their block is skipped unread.
    unsigned family = bytes_[13] >> 4;
    bool transport = (bytes_[13] & 0x0F) != 0;
    address_ = !proxy || !transport ? 0 : family == 1 ? v2_ipv4_block : family == 2 ? v2_ipv6_block : 0;
    if (address_ > stated_) {
        fail("v2: the addresses do not fit in the stated length");
        return;
    }
    if (address_ != 0) {
        block_left_ = stated_ - address_;
        phase_ = Phase::v2_address;
        return;
    }
    block_left_ = 0;
    skip_ = stated_;
    phase_ = Phase::v2_skip;
    if (skip_ == 0) {
        after_v2_block();
    }
}

void ProxyHeaderParser::after_v2_block() {
    if (block_left_ == 0) {
        finish_v2();
        return;
    }
    if (block_left_ < tlv_.size()) {
        fail("v2: a TLV runs past the stated length");
        return;
    }
    tlv_kept_ = 0;
    phase_ = Phase::v2_tlv;
}

void ProxyHeaderParser::take_v2_tlv(unsigned char byte) {
    tlv_[tlv_kept_++] = byte;
    if (tlv_kept_ < tlv_.size()) {
        return;
    }
    std::size_t length = static_cast<std::size_t>(tlv_[1]) << 8 | tlv_[2];
    block_left_ -= tlv_.size();
    if (length > block_left_) {
        fail("v2: a TLV runs past the stated length");
        return;
    }
    block_left_ -= length;
    skip_ = length;
    phase_ = Phase::v2_skip;
    if (skip_ == 0) {
        after_v2_block();
    }
}

void ProxyHeaderParser::finish_v2() {
    header_.version = 2;
    header_.length = v2_fixed + stated_;
    if (address_ != 0) {
        std::size_t size = address_ == v2_ipv6_block ? 16 : 4;
        const unsigned char* block = bytes_.data() + v2_fixed;
        make_v2_address(block, size, block + 2 * size, header_.source);
        make_v2_address(block + size, size, block + 2 * size + 2, header_.destination);
        header_.local = false;
    }
    status_ = Status::done;
}

void ProxyHeaderParser::fail(const char* reason) {
    status_ = Status::error;
    error_ = reason;
}

}  // namespace echod
