// IP addresses as both programs show and take them: "127.0.0.1:7007",
// "[::1]:7007". Address literals only, never host names (no DNS).
#pragma once

#include "common/parse.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace common {

// "127.0.0.1:7007" or "[::1]:7007" for an AF_INET or AF_INET6 address;
// "?" for any other family.
std::string format_address(const sockaddr* address);

// The same for an address literal and a port, before any socket exists.
std::string format_address(std::string_view literal, std::uint16_t port);

// The port of an AF_INET or AF_INET6 address, in host order; 0 otherwise.
std::uint16_t port_of(const sockaddr* address);

// Fills out from an IPv4 or IPv6 literal and a port. False if literal is
// neither.
bool make_address(const std::string& literal, std::uint16_t port, sockaddr_storage& out);

// An address literal and a port, as one value takes them.
struct AddressAndPort {
    std::string literal;  // "127.0.0.1", "::1" (no brackets)
    std::uint16_t port = 0;
};

// "127.0.0.1:9100" or "[::1]:9100": an IPv4 literal, or an IPv6 one in
// brackets, then ':' and a port 0..65535.
Parsed<AddressAndPort> parse_address_and_port(std::string_view text);

}  // namespace common
