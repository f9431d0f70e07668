#include "echod/systemd.h"

#include "common/log.h"
#include "common/parse.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace echod {
namespace {

constexpr int first_listen_fd = 3;  // SD_LISTEN_FDS_START

}  // namespace

std::vector<int> take_listen_fds(std::string& error) {
    const char* pid_text = std::getenv("LISTEN_PID");
    const char* fds_text = std::getenv("LISTEN_FDS");
    if (pid_text == nullptr || fds_text == nullptr) {
        return {};
    }
    auto pid = common::parse_uint(pid_text, 1, UINT32_MAX);
    auto count = common::parse_uint(fds_text, 0, 4096);
    std::vector<int> fds;
    if (std::holds_alternative<common::ParseError>(pid) || std::holds_alternative<common::ParseError>(count)) {
        error = fmt::format("LISTEN_PID={} LISTEN_FDS={}: not numbers", common::printable(pid_text),
                            common::printable(fds_text));
    } else if (std::get<std::uint64_t>(pid) == static_cast<std::uint64_t>(::getpid())) {
        for (std::uint64_t i = 0; i < std::get<std::uint64_t>(count); ++i) {
            fds.push_back(first_listen_fd + static_cast<int>(i));
        }
    }
    // Meant for this process only, whoever it was meant for.
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    return fds;
}

std::string notify_systemd(std::string_view state) {
    const char* name = std::getenv("NOTIFY_SOCKET");
    if (name == nullptr || *name == '\0') {
        return {};
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::size_t length = std::strlen(name);
    if ((name[0] != '/' && name[0] != '@') || length >= sizeof address.sun_path) {
        return fmt::format("NOTIFY_SOCKET={}: not a socket path", common::printable(name));
    }
    std::memcpy(address.sun_path, name, length);
    if (name[0] == '@') {
        address.sun_path[0] = '\0';  // abstract namespace
    }
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fmt::format("socket: {}", std::strerror(errno));
    }
    auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
    ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address), size);
    std::string error = sent < 0 ? fmt::format("sendto {}: {}", common::printable(name), std::strerror(errno)) : "";
    ::close(fd);
    return error;
}

std::string reloading_state(std::uint64_t monotonic_usec) {
    return fmt::format("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec);
}

void notify_systemd_or_warn(std::string_view state) {
    if (std::string failed = notify_systemd(state); !failed.empty()) {
        common::log_warn("systemd notify: {}", failed);
    }
}

void notify_systemd_reloading() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1000000 + static_cast<std::uint64_t>(now.tv_nsec) / 1000;
    notify_systemd_or_warn(reloading_state(usec));
}

}  // namespace echod
