// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and
// 2) that a balancer writes before a connection's first byte, read as the
// bytes arrive: in pieces of any size, one byte at a time if need be.
//
//   v1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 7007\r\n"  (at most 107 bytes)
//       "PROXY TCP6 <ipv6> <ipv6> <port> <port>\r\n", "PROXY UNKNOWN ...\r\n"
//   v2: 12-byte signature, version/command, family/protocol, 16-bit length,
//       then that many bytes: the addresses, then TLVs (skipped)
//
// Each byte is judged as it comes, so a peer that sends anything else is
// turned away at its first wrong byte. Pure: no sockets, no clock (the
// connection holds the deadline), no allocation: the state is a fixed
// buffer of one v1 line.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace echod {

// The longest v1 line, CRLF included ("PROXY UNKNOWN" with two full IPv6
// addresses and ports), and the most bytes a v2 header may take here: its
// 16 bytes plus a stated length of up to 4080.
inline constexpr std::size_t proxy_v1_max = 107;
inline constexpr std::size_t proxy_v2_max = 4096;

// What a complete header says.
struct ProxyHeader {
    int version = 0;                 // 1 (text) or 2 (binary)
    bool local = true;               // v1 UNKNOWN, v2 LOCAL or an unspecified/Unix family: the socket's own peer stands
    sockaddr_storage source{};       // the client (AF_INET or AF_INET6), when !local
    sockaddr_storage destination{};  // the address the client connected to, when !local
    std::size_t length = 0;          // bytes of the header, all of it
};

class ProxyHeaderParser {
public:
    enum class Status { need_more, done, error };
    struct Step {
        Status status;
        // Bytes of this input that belong to the header: all of it while
        // need_more; on done, the bytes after them are the connection's own.
        std::size_t used;
    };

    // The next bytes of the connection. After done or error, feeding again
    // changes nothing and returns the same status with used = 0.
    Step feed(std::span<const char> input);

    Status status() const { return status_; }
    // After done.
    const ProxyHeader& header() const { return header_; }
    // After error: why, e.g. "not a PROXY protocol header".
    const char* error() const { return error_; }
    // Header bytes taken so far.
    std::size_t received() const { return received_; }

private:
    enum class Phase {
        first,       // the first byte tells v1 ('P') from v2 ('\r')
        v1,          // "PROXY " and the rest of the line, up to CRLF
        v2_fixed,    // the signature, version/command, family, length
        v2_address,  // the address block of an IPv4 or IPv6 header
        v2_tlv,      // a TLV's type and length
        v2_skip,     // bytes not looked at: a TLV's value, or all of a LOCAL/unspecified block
    };

    void take(unsigned char byte);
    void take_v1(unsigned char byte);
    void take_v2_fixed(unsigned char byte);
    void take_v2_tlv(unsigned char byte);
    void after_v2_block();  // the addresses or a TLV value are past: another TLV, or the end
    void finish_v1();
    void finish_v2();
    void fail(const char* reason);

    Status status_ = Status::need_more;
    Phase phase_ = Phase::first;
    const char* error_ = "";
    ProxyHeader header_;
    std::size_t received_ = 0;
    // v1: the line so far; v2: the 16 fixed bytes, then the address block
    // (up to two IPv6 addresses and ports).
    std::array<unsigned char, proxy_v1_max> bytes_{};
    std::size_t kept_ = 0;                // bytes in bytes_
    std::size_t stated_ = 0;              // v2: the length field
    std::size_t address_ = 0;             // v2: the address block's length, 0 when the addresses are not read
    std::size_t block_left_ = 0;          // v2: stated bytes after the address block not yet taken (TLVs)
    std::size_t skip_ = 0;                // v2_skip: bytes still to skip
    std::array<unsigned char, 3> tlv_{};  // a TLV's type and 16-bit length
    std::size_t tlv_kept_ = 0;
};

}  // namespace echod
