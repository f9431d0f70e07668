#include "common/address.h"

#include "common/parse.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace common {

std::optional<std::string_view> unix_path(std::string_view address) {
    if (!address.starts_with(unix_prefix)) {
        return std::nullopt;
    }
    return address.substr(unix_prefix.size());
}

std::string check_address(std::string_view text) {
    if (std::optional<std::string_view> path = unix_path(text)) {
        if (path->empty()) {
            return "'unix:' needs a path (unix:PATH)";
        }
        if (path->find('\0') != std::string_view::npos) {
            return "a Unix socket path cannot hold a NUL byte";
        }
        if (path->size() > max_unix_path) {
            return fmt::format("'{}': the path is {} bytes, more than the {} a Unix socket address holds",
                               printable(text), path->size(), max_unix_path);
        }
        return {};
    }
    sockaddr_storage storage{};
    if (make_address(std::string(text), 0, storage)) {
        return {};
    }
    if (text.starts_with('/')) {
        return fmt::format("'{}' is not an IPv4 or IPv6 address literal (a Unix socket is unix:{})", printable(text),
                           printable(text));
    }
    return fmt::format("'{}' is not an IPv4 or IPv6 address literal", printable(text));
}

std::string format_address(const sockaddr* address) {
    if (address->sa_family == AF_UNIX) {
        const auto* local = reinterpret_cast<const sockaddr_un*>(address);
        const char* path = local->sun_path;
        if (path[0] != '\0') {
            return fmt::format("unix:{}", std::string_view(path, ::strnlen(path, sizeof local->sun_path)));
        }
        if (path[1] != '\0') {
            // Linux's abstract namespace, as systemd writes it (ListenStream=@NAME).
            return fmt::format("unix:@{}", std::string_view(path + 1, ::strnlen(path + 1, sizeof local->sun_path - 1)));
        }
        return "unix:(unnamed)";
    }
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
    if (unix_path(literal)) {
        return std::string(literal);
    }
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
    if (std::optional<std::string_view> path = unix_path(literal)) {
        if (path->empty() || path->size() > max_unix_path || path->find('\0') != std::string_view::npos) {
            return false;
        }
        auto* local = reinterpret_cast<sockaddr_un*>(&out);
        local->sun_family = AF_UNIX;
        std::memcpy(local->sun_path, path->data(), path->size());  // NUL-terminated: out was zeroed
        return true;
    }
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

socklen_t address_length(const sockaddr_storage& address) {
    switch (address.ss_family) {
        case AF_INET:
            return sizeof(sockaddr_in);
        case AF_INET6:
            return sizeof(sockaddr_in6);
        case AF_UNIX: {
            const auto* local = reinterpret_cast<const sockaddr_un*>(&address);
            // The path and its NUL, when it has room for one.
            std::size_t path = ::strnlen(local->sun_path, sizeof local->sun_path);
            return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + std::min(path + 1, sizeof local->sun_path));
        }
        default:
            return sizeof address;
    }
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
    // an IPv4 one must not have them; unix:PATH has no port.
    if (!make_address(result.literal, 0, address) || address.ss_family == AF_UNIX ||
        bracketed != (address.ss_family == AF_INET6)) {
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
