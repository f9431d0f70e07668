#include "common/address.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include <cstring>

namespace common {

std::string format_address(const sockaddr* address) {
    char host[INET6_ADDRSTRLEN] = "";
    if (address->sa_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
        ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        return fmt::format("[{}]:{}", host, ntohs(v6->sin6_port));
    }
    if (address->sa_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
        ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        return fmt::format("{}:{}", host, ntohs(v4->sin_port));
    }
    return "?";
}

std::string format_address(std::string_view literal, std::uint16_t port) {
    if (literal.find(':') != std::string_view::npos) {
        return fmt::format("[{}]:{}", literal, port);
    }
    return fmt::format("{}:{}", literal, port);
}

std::uint16_t port_of(const sockaddr* address) {
    if (address->sa_family == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(address)->sin6_port);
    }
    if (address->sa_family == AF_INET) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(address)->sin_port);
    }
    return 0;
}

bool make_address(const std::string& literal, std::uint16_t port, sockaddr_storage& out) {
    std::memset(&out, 0, sizeof out);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    if (::inet_pton(AF_INET, literal.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return true;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (::inet_pton(AF_INET6, literal.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return true;
    }
    return false;
}

Parsed<AddressAndPort> parse_address_and_port(std::string_view text) {
    auto fail = [text] {
        return ParseError{fmt::format("'{}' is not ADDR:PORT (an IPv4 literal or a [bracketed] IPv6 one, and a port)",
                                      printable(text))};
    };
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return fail();
    }
    std::string_view host = text.substr(0, colon);
    bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (bracketed) {
        host = host.substr(1, host.size() - 2);
    }
    AddressAndPort result{std::string(host), 0};
    sockaddr_storage address{};
    // An IPv6 literal needs its brackets (the port would be ambiguous), and
    // an IPv4 one must not have them.
    if (!make_address(result.literal, 0, address) || bracketed != (address.ss_family == AF_INET6)) {
        return fail();
    }
    Parsed<std::uint64_t> port = parse_uint(text.substr(colon + 1), 0, 65535);
    if (auto* error = std::get_if<ParseError>(&port)) {
        return ParseError{fmt::format("port: {}", error->reason)};
    }
    result.port = static_cast<std::uint16_t>(std::get<std::uint64_t>(port));
    return result;
}

}  // namespace common
