// SIGHUP: the --config file read again, and what of it may change while
// echod serves. Pure but for log_reload (the file is read through a
// ReadFile), so every rule and every line a reload logs is unit-tested;
// server.cpp and supervisor.cpp apply the outcome.
//
// Live: log-level, max-connections, idle-timeout, shutdown-timeout,
// stats-interval, metrics-file and the faults. The rest (addresses, port,
// backlog, buffers, workers, ...) is bound into sockets and processes at
// start: a new value is named in one warning and kept until a restart.
#pragma once

#include "echod/options.h"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace echod {

// What one reload found.
struct Reload {
    enum class Outcome {
        no_config,  // started without --config: nothing to read again
        failed,     // the file does not read or parse: nothing changes
        applied,    // config holds the file's live options
    };
    Outcome outcome = Outcome::no_config;
    std::string error;                 // failed: what is wrong, naming the file (and line)
    std::vector<std::string> changed;  // applied: live options that changed, "max-connections 10000 -> 1"
    std::vector<std::string> kept;     // applied: options that cannot change live but differ, "port 7007 -> 7008"
    Config config;                     // applied: the running config with the file's live options
};

// running: the options echod runs with, as parsed (before a worker's own
// adjustments); next: as parsed now. A fault seed next does not give stays
// running's (drawn at start, shared by every worker).
Reload compare_for_reload(const Config& running, const Config& next);

// Copies the live options of from into to, and nothing else.
void copy_live_options(const Config& from, Config& to);

// The lines a reload logs, without "echod: LEVEL: ".
// applied: "reloaded PATH: a 1 -> 2, b x -> y" or "reloaded PATH: nothing changed"
std::string reload_notice(std::string_view path, const Reload& reload);
// applied with kept options: "reload: port 7007 -> 7008: cannot change live, kept until restart"; else ""
std::string kept_warning(const Reload& reload);
// failed: "reload: WHAT; nothing changed"
std::string failed_line(const Reload& reload);

// Logs what reload found, as the process systemd watches says it: the
// kept warning (if any) and the notice, the error line, or that there is
// no file. (A --workers worker says less: server.cpp.)
void log_reload(std::string_view path, const Reload& reload);

// The command line and the config file echod started from, read again on
// demand.
class ConfigSource {
public:
    // args: main's argv (it outlives the source); running: what
    // parse_command_line(args) gave, the fault seed resolved.
    ConfigSource(std::span<const char* const> args, std::string path, const Config& running,
                 ReadFile read_file = read_config_file);

    const std::string& path() const { return path_; }  // --config's value; "" without
    const Config& running() const { return running_; }

    // The file read again and the command line applied over it, as at start
    // (and bounded the same way), plus two more checks: an empty file (one
    // being written, say) is an error here, not a return to the defaults,
    // and a new metrics file must be writable, as at start.
    // When applied, running() takes the file's live options.
    Reload reload();

private:
    std::span<const char* const> args_;
    std::string path_;
    Config running_;
    ReadFile read_file_;
};

}  // namespace echod
