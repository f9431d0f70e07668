// echod's command line: argv in, a Config (or help, version, or a usage
// error) out. A pure function: it prints nothing and starts nothing, so every
// option, default and error message is unit-tested.
#pragma once

#include "common/log.h"
#include "common/parse.h"
#include "echod/faults.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace echod {

struct Config {
    std::vector<std::string> listen = {"127.0.0.1"};       // IPv4/IPv6 literals or "unix:PATH", one listener each
    std::uint16_t port = 7007;                             // of the IP listeners; 0: the kernel picks one
    int backlog = 511;                                     // listen(2) backlog, 1..65535
    std::size_t buffer_size = 64 * common::KiB;            // ring capacity per connection, 16 B..256 MiB
    std::uint64_t max_buffer_memory = 1024 * common::MiB;  // rings lent at once, in bytes (per process)
    bool reuseaddr = true;                                 // SO_REUSEADDR on the listening socket
    bool reuseport = false;                                // SO_REUSEPORT, to share the port with other processes
    std::uint32_t workers = 1;                             // processes serving the port (SO_REUSEPORT), 1..256
    bool udp = false;                                      // also serve UDP echo (RFC 862) on each address
    bool proxy_protocol = false;                           // every TCP connection starts with a PROXY header
    std::uint32_t max_connections = 10000;                 // served at once; more are accepted and closed
    double idle_timeout_s = 0;                             // close after this long without a byte; 0: never
    double shutdown_timeout_s = 5;                         // bound on the SIGINT/SIGTERM drain
    double stats_interval_s = 0;                           // log a stats line this often; 0: only on SIGUSR1
    std::string metrics_file;                              // Prometheus text file, rewritten every interval
    std::string metrics_listen;                            // "ADDR:PORT", "[::1]:PORT": serve /metrics; "": off
    FaultConfig faults;                                    // --fault, --fault-share, --fault-seed
    int report_fd = -1;  // --workers: a worker sends its stats here (set by the parent, not an option)
    common::LogLevel log_level = common::LogLevel::info;
};

inline constexpr std::size_t min_buffer_size = 16;
inline constexpr std::size_t max_buffer_size = 256 * common::MiB;
inline constexpr std::uint64_t max_max_buffer_memory = common::MiB * 1024 * 1024;  // 1 TiB
inline constexpr std::uint32_t max_max_connections = 1000000;
inline constexpr std::uint32_t max_workers = 256;
inline constexpr double max_idle_timeout_s = 7 * 24 * 3600;
inline constexpr double max_shutdown_timeout_s = 3600;
inline constexpr double max_stats_interval_s = 24 * 3600;
// --metrics-file without --stats-interval writes this often.
inline constexpr double default_metrics_interval_s = 10;

struct CommandLine {
    enum class Action {
        run,          // start the daemon with config
        help,         // print help_text() to stdout, exit 0
        version,      // print the version to stdout, exit 0
        usage_error,  // print error to stderr, exit 2
    };
    Action action = Action::run;
    Config config;
    std::string error;        // the whole line for usage_error, without "\n"
    std::string config_file;  // --config's value (the last one given); "" without
};

// A config file is text of at most this size (the example is 2 KiB).
inline constexpr std::size_t max_config_size = common::MiB;

// Reads a whole file, or says why not (for --config).
using ReadFile = std::function<std::optional<std::string>(const std::string& path, std::string& error)>;
// A regular file of at most max_config_size bytes: not a directory,
// /dev/zero or a FIFO.
std::optional<std::string> read_config_file(const std::string& path, std::string& error);

// args[0] is the program name, as in main's argv. With --config FILE, the
// file (read with read_file) is applied first and the command line on top.
CommandLine parse_command_line(std::span<const char* const> args, const ReadFile& read_file = read_config_file);

// Applies a config file's text: `key = value` lines with the long option
// names, blank lines and '#' comments; reuseaddr, reuseport, udp and
// proxy-protocol take true/false;
// listen may repeat. Returns "" or the one-line error naming path, line and
// key.
std::string apply_config_text(std::string_view text, std::string_view path, Config& config);

// A metrics file that can never be written is an error when it is given
// (at start, at a reload), not a warning at every interval: a temporary is
// made beside it, and removed. "" or "--metrics-file: PATH: reason".
std::string check_metrics_file(const std::string& path);

// The text of --help, with every option and its default.
std::string help_text();

}  // namespace echod
