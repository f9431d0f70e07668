#include "echod/reload.h"

#include "common/getopt_args.h"
#include "common/log.h"
#include "common/parse.h"
#include "echod/faults.h"

#include <fmt/format.h>

#include <utility>

namespace echod {
namespace {

std::string quoted_or_none(const std::string& path) {
    return path.empty() ? "none" : fmt::format("'{}'", common::printable(path, common::max_quoted_path));
}

std::string fault_specs(const FaultConfig& faults) {
    std::string specs = fault_specs_text(faults);
    return specs.empty() ? "none" : specs;
}

// The faults a UDP socket applies (drop, delay): made at start, and kept.
std::string udp_fault_specs(const FaultConfig& faults) {
    FaultConfig udp;
    for (Fault fault : {Fault::delay, Fault::drop}) {
        udp.specs[static_cast<std::size_t>(fault)] = faults.specs[static_cast<std::size_t>(fault)];
    }
    return fault_specs(udp);
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& item : items) {
        out += out.empty() ? "" : ", ";
        out += item;
    }
    return out;
}

// "name before -> after" into out when the two differ.
template <typename T>
void note(std::vector<std::string>& out, std::string_view name, const T& before, const T& after) {
    if (before != after) {
        out.push_back(fmt::format("{} {} -> {}", name, before, after));
    }
}

std::string on_off(bool on) {
    return on ? "true" : "false";
}

std::string addresses(const std::vector<std::string>& listen) {
    std::string out;
    for (const std::string& address : listen) {
        out += out.empty() ? "" : ",";
        out += common::printable(address, common::max_quoted_path);
    }
    return out;
}

}  // namespace

void copy_live_options(const Config& from, Config& to) {
    to.log_level = from.log_level;
    to.max_connections = from.max_connections;
    to.idle_timeout_s = from.idle_timeout_s;
    to.shutdown_timeout_s = from.shutdown_timeout_s;
    to.stats_interval_s = from.stats_interval_s;
    to.metrics_file = from.metrics_file;
    to.faults = from.faults;
}

Reload compare_for_reload(const Config& running, const Config& next_given) {
    Config next = next_given;
    if (!next.faults.seed) {
        next.faults.seed = running.faults.seed;
    }
    Reload result;
    result.outcome = Reload::Outcome::applied;

    // Live, in the order of --help.
    auto& changed = result.changed;
    note(changed, "max-connections", running.max_connections, next.max_connections);
    note(changed, "idle-timeout", fmt::format("{:g}", running.idle_timeout_s),
         fmt::format("{:g}", next.idle_timeout_s));
    note(changed, "shutdown-timeout", fmt::format("{:g}", running.shutdown_timeout_s),
         fmt::format("{:g}", next.shutdown_timeout_s));
    note(changed, "stats-interval", fmt::format("{:g}", running.stats_interval_s),
         fmt::format("{:g}", next.stats_interval_s));
    note(changed, "metrics-file", quoted_or_none(running.metrics_file), quoted_or_none(next.metrics_file));
    if (!same_faults(running.faults, next.faults)) {
        note(changed, "fault", fault_specs(running.faults), fault_specs(next.faults));
    }
    note(changed, "fault-share", fmt::format("{:g}", running.faults.share), fmt::format("{:g}", next.faults.share));
    auto seed = [](const FaultConfig& f) { return f.seed ? fmt::format("{}", *f.seed) : std::string("none"); };
    note(changed, "fault-seed", seed(running.faults), seed(next.faults));
    note(changed, "log-level", std::string(to_string(running.log_level)), std::string(to_string(next.log_level)));

    // Bound at start.
    auto& kept = result.kept;
    note(kept, "listen", addresses(running.listen), addresses(next.listen));
    note(kept, "port", running.port, next.port);
    note(kept, "backlog", running.backlog, next.backlog);
    note(kept, "buffer-size", common::format_size(running.buffer_size), common::format_size(next.buffer_size));
    note(kept, "reuseaddr", on_off(running.reuseaddr), on_off(next.reuseaddr));
    note(kept, "reuseport", on_off(running.reuseport), on_off(next.reuseport));
    note(kept, "workers", running.workers, next.workers);
    note(kept, "udp", on_off(running.udp), on_off(next.udp));
    if (running.udp) {
        note(kept, "fault on UDP", udp_fault_specs(running.faults), udp_fault_specs(next.faults));
    }
    note(kept, "proxy-protocol", on_off(running.proxy_protocol), on_off(next.proxy_protocol));
    note(kept, "max-buffer-memory", common::format_size(running.max_buffer_memory),
         common::format_size(next.max_buffer_memory));
    note(kept, "metrics-listen", quoted_or_none(running.metrics_listen), quoted_or_none(next.metrics_listen));

    result.config = running;
    copy_live_options(next, result.config);
    return result;
}

std::string reload_notice(std::string_view path, const Reload& reload) {
    return fmt::format("reloaded {}: {}", common::printable(path, common::max_quoted_path),
                       reload.changed.empty() ? "nothing changed" : joined(reload.changed));
}

std::string kept_warning(const Reload& reload) {
    if (reload.kept.empty()) {
        return {};
    }
    return fmt::format("reload: {}: cannot change live, kept until restart", joined(reload.kept));
}

std::string failed_line(const Reload& reload) {
    return fmt::format("reload: {}; nothing changed", reload.error);
}

void log_reload(std::string_view path, const Reload& reload) {
    switch (reload.outcome) {
        case Reload::Outcome::no_config:
            common::log_notice("SIGHUP: started without --config, no config file to re-read; nothing changed");
            break;
        case Reload::Outcome::failed:
            common::log_error("{}", failed_line(reload));
            break;
        case Reload::Outcome::applied:
            if (std::string kept = kept_warning(reload); !kept.empty()) {
                common::log_warn("{}", kept);
            }
            common::log_notice("{}", reload_notice(path, reload));
            break;
    }
}

ConfigSource::ConfigSource(std::span<const char* const> args, std::string path, const Config& running,
                           ReadFile read_file)
    : args_(args), path_(std::move(path)), running_(running), read_file_(std::move(read_file)) {}

Reload ConfigSource::reload() {
    Reload result;
    if (path_.empty()) {
        return result;  // no_config
    }
    ReadFile read_not_empty = [this](const std::string& path, std::string& error) -> std::optional<std::string> {
        std::optional<std::string> text = read_file_(path, error);
        if (text && text->find_first_not_of(" \t\r\n") == std::string::npos) {
            error = "is empty";
            return std::nullopt;
        }
        return text;
    };
    CommandLine parsed = parse_command_line(args_, read_not_empty);
    if (parsed.action != CommandLine::Action::run) {
        // The same argv parsed at start, so only the file can be wrong; help
        // and version cannot come back.
        result.outcome = Reload::Outcome::failed;
        result.error = common::usage_what("echod", parsed.error);
        return result;
    }
    Reload compared = compare_for_reload(running_, parsed.config);
    if (compared.config.metrics_file != running_.metrics_file) {
        if (std::string error = check_metrics_file(compared.config.metrics_file); !error.empty()) {
            result.outcome = Reload::Outcome::failed;
            result.error = std::move(error);
            return result;
        }
    }
    result = std::move(compared);
    running_ = result.config;
    return result;
}

}  // namespace echod
