#include "echod/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <uv.h>

#include <fmt/format.h>
#include <cerrno>

namespace echod {

std::string format_address(const sockaddr* address) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (address->sa_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        return fmt::format("[{}]:{}", host, ntohs(v6->sin6_port));
    }
    if (address->sa_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        return fmt::format("{}:{}", host, ntohs(v4->sin_port));
    }
    return "?";
}

std::string format_address(const std::string& literal, std::uint16_t port) {
    if (literal.find(':') != std::string::npos) {
        return fmt::format("[{}]:{}", literal, port);
    }
    return fmt::format("{}:{}", literal, port);
}

ListenSocket open_listen_socket(const std::string& literal, std::uint16_t port, bool reuseaddr, bool reuseport) {
    sockaddr_storage storage{};
    socklen_t length = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, literal.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        length = sizeof *v4;
    } else if (inet_pton(AF_INET6, literal.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        length = sizeof *v6;
    } else {
        return {-1, UV_EINVAL, "inet_pton"};
    }

    int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return {-1, uv_translate_sys_error(errno), "socket"};
    }
    auto fail = [fd](const char* call) {
        int error = uv_translate_sys_error(errno);
        ::close(fd);
        return ListenSocket{-1, error, call};
    };
    int on = 1;
    if (reuseaddr && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
        return fail("setsockopt SO_REUSEADDR");
    }
    // libuv 1.44 has no flag for SO_REUSEPORT: this is why the socket is ours.
    if (reuseport && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        return fail("setsockopt SO_REUSEPORT");
    }
    // '::' means IPv6 only, whatever net.ipv6.bindv6only says, so that an
    // IPv4 listener on the same port is never shadowed by surprise.
    if (storage.ss_family == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) {
        return fail("setsockopt IPV6_V6ONLY");
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
        return fail("bind");
    }
    return {fd, 0, ""};
}

}  // namespace echod
