// The two pieces of the systemd protocol echod speaks, without libsystemd
// (so it builds anywhere): socket activation and readiness notification.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace echod {

// Socket activation: when LISTEN_PID is this process and LISTEN_FDS is
// N >= 1, the listening sockets are fds 3..3+N-1. Returns them (empty when
// not activated) and unsets the variables so that no child inherits them.
// error is set when the variables are present but malformed.
std::vector<int> take_listen_fds(std::string& error);

// Sends state ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET, an AF_UNIX
// datagram socket (a path, or an abstract name starting with '@'). Does
// nothing when the variable is unset. Returns "" or the failing call.
std::string notify_systemd(std::string_view state);

// "RELOADING=1\nMONOTONIC_USEC=N": what a reload sends before it starts
// (systemd 253+ wants the time with it, in CLOCK_MONOTONIC microseconds;
// older ones ignore it); READY=1 follows once it is done.
std::string reloading_state(std::uint64_t monotonic_usec);
// Sends state, and logs a warning if that failed.
void notify_systemd_or_warn(std::string_view state);
// reloading_state(now), sent.
void notify_systemd_reloading();

}  // namespace echod
