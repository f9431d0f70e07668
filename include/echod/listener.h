// The listening socket, made by echod itself rather than uv_tcp_bind():
// libuv always sets SO_REUSEADDR, and --no-reuseaddr must be able to not.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace echod {

// "127.0.0.1:7007" or "[::1]:7007", as the ready line and errors show it.
std::string format_address(const sockaddr* address);

// The same for an address literal and a port, before any socket exists.
std::string format_address(const std::string& literal, std::uint16_t port);

struct ListenSocket {
    int fd = -1;            // bound, non-blocking, close-on-exec; -1 on failure
    int error = 0;          // libuv error code (UV_E*) on failure
    const char* call = "";  // the failing call ("bind", "socket", ...)
};

// socket + SO_REUSEADDR (if asked) + IPV6_V6ONLY for IPv6 + bind. The caller
// adopts fd with uv_tcp_open and listens.
// socket + SO_REUSEADDR/SO_REUSEPORT (if asked) + IPV6_V6ONLY for IPv6 +
// bind. The caller adopts fd with uv_tcp_open and listens.
ListenSocket open_listen_socket(const std::string& literal, std::uint16_t port, bool reuseaddr, bool reuseport = false);

}  // namespace echod
