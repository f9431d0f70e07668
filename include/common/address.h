// Addresses as both programs show and take them: "127.0.0.1:7007",
// "[::1]:7007", and "unix:PATH" for a Unix stream socket. Address literals
// only, never host names (no DNS).
#pragma once

#include "common/parse.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace common {

// A Unix stream socket as --listen and -H take it: "unix:PATH".
inline constexpr std::string_view unix_prefix = "unix:";

// The longest PATH a socket address holds: sun_path less its NUL (107
// bytes on Linux).
inline constexpr std::size_t max_unix_path = sizeof(sockaddr_un{}.sun_path) - 1;

// The PATH of "unix:PATH"; nullopt for any other text.
std::optional<std::string_view> unix_path(std::string_view address);

// "" when text is an IPv4 or IPv6 address literal or a "unix:PATH" that
// fits a socket address; otherwise why not, for an option's error line.
std::string check_address(std::string_view text);

// "127.0.0.1:7007" or "[::1]:7007" for an AF_INET or AF_INET6 address,
// "unix:PATH" for AF_UNIX ("unix:@NAME" in the abstract namespace,
// "unix:(unnamed)" for an unbound socket); "?" for any other family.
std::string format_address(const sockaddr* address);

// The same for an address literal and a port, before any socket exists;
// "unix:PATH" stays as it is (a port does not apply).
std::string format_address(std::string_view literal, std::uint16_t port);

// The port of an AF_INET or AF_INET6 address, in host order; 0 otherwise.
std::uint16_t port_of(const sockaddr* address);

// Fills out from an IPv4 or IPv6 literal and a port, or from "unix:PATH"
// (an AF_UNIX address; port unused). False if literal is none of these, or
// PATH is empty or too long.
bool make_address(const std::string& literal, std::uint16_t port, sockaddr_storage& out);

// The length of out's address for bind(2) and connect(2): by its family,
// and for AF_UNIX by its path.
socklen_t address_length(const sockaddr_storage& address);

// An address literal and a port, as one value takes them.
struct AddressAndPort {
    std::string literal;  // "127.0.0.1", "::1" (no brackets)
    std::uint16_t port = 0;
};

// "127.0.0.1:9100" or "[::1]:9100": an IPv4 literal, or an IPv6 one in
// brackets, then ':' and a port 0..65535.
Parsed<AddressAndPort> parse_address_and_port(std::string_view text);

}  // namespace common
