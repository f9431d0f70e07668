#include "echod/options.h"

#include "common/address.h"
#include "common/file.h"
#include "common/getopt_args.h"
#include "common/parse.h"

#include <fmt/format.h>
#include <cerrno>
#include <cstring>
#include <vector>

namespace echod {
namespace {

// getopt_long values for options that have no short form.
enum LongOnly : int {
    opt_reuseaddr = 256,
    opt_no_reuseaddr,
    opt_log_level,
    opt_version,
    opt_max_connections,
    opt_idle_timeout,
    opt_shutdown_timeout,
    opt_stats_interval,
    opt_metrics_file,
    opt_metrics_listen,
    opt_udp,
    opt_config,
    opt_reuseport,
    opt_workers,
    opt_fault,
    opt_fault_share,
    opt_fault_seed,
    opt_proxy_protocol,
    opt_max_buffer_memory,
};

constexpr option long_options[] = {
    {"listen", required_argument, nullptr, 'l'},
    {"port", required_argument, nullptr, 'p'},
    {"backlog", required_argument, nullptr, 'b'},
    {"buffer-size", required_argument, nullptr, 'B'},
    {"reuseaddr", no_argument, nullptr, opt_reuseaddr},
    {"no-reuseaddr", no_argument, nullptr, opt_no_reuseaddr},
    {"max-connections", required_argument, nullptr, opt_max_connections},
    {"max-buffer-memory", required_argument, nullptr, opt_max_buffer_memory},
    {"idle-timeout", required_argument, nullptr, opt_idle_timeout},
    {"shutdown-timeout", required_argument, nullptr, opt_shutdown_timeout},
    {"stats-interval", required_argument, nullptr, opt_stats_interval},
    {"metrics-file", required_argument, nullptr, opt_metrics_file},
    {"metrics-listen", required_argument, nullptr, opt_metrics_listen},
    {"udp", no_argument, nullptr, opt_udp},
    {"reuseport", no_argument, nullptr, opt_reuseport},
    {"workers", required_argument, nullptr, opt_workers},
    {"fault", required_argument, nullptr, opt_fault},
    {"fault-share", required_argument, nullptr, opt_fault_share},
    {"fault-seed", required_argument, nullptr, opt_fault_seed},
    {"proxy-protocol", no_argument, nullptr, opt_proxy_protocol},
    {"config", required_argument, nullptr, opt_config},
    {"log-level", required_argument, nullptr, opt_log_level},
    {"verbose", no_argument, nullptr, 'v'},
    {"quiet", no_argument, nullptr, 'q'},
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, opt_version},
    {nullptr, 0, nullptr, 0},
};

// Leading ':' makes getopt report a missing value as ':' rather than '?'.
constexpr const char* short_options = ":l:p:b:B:vqh";

std::string usage_line(std::string_view what) {
    return common::usage_line("echod", what);
}

// Applies one option's value to config. Returns "" or the reason the value
// is wrong ("0 is out of range 1..65535"); the caller says where it came from.
std::string apply(int value, const char* arg, Config& config) {
    auto number = [&](std::uint64_t min, std::uint64_t max, auto& field) -> std::string {
        auto parsed = common::parse_uint(arg, min, max);
        if (auto* error = std::get_if<common::ParseError>(&parsed)) {
            return error->reason;
        }
        field = static_cast<std::remove_reference_t<decltype(field)>>(std::get<std::uint64_t>(parsed));
        return {};
    };
    auto size = [&](std::uint64_t min, std::uint64_t max, auto& field) -> std::string {
        auto parsed = common::parse_size(arg, min, max);
        if (auto* error = std::get_if<common::ParseError>(&parsed)) {
            return error->reason;
        }
        field = static_cast<std::remove_reference_t<decltype(field)>>(std::get<std::uint64_t>(parsed));
        return {};
    };
    auto seconds = [&](double min, double max, double& field) -> std::string {
        auto parsed = common::parse_seconds(arg, min, max);
        if (auto* error = std::get_if<common::ParseError>(&parsed)) {
            return error->reason;
        }
        field = std::get<double>(parsed);
        return {};
    };
    switch (value) {
        case 'l':
            if (std::string reason = common::check_address(arg); !reason.empty()) {
                return reason;
            }
            config.listen.emplace_back(arg);
            return {};
        case 'p':
            return number(0, 65535, config.port);
        case 'b':
            return number(1, 65535, config.backlog);
        case 'B':
            return size(min_buffer_size, max_buffer_size, config.buffer_size);
        case opt_max_buffer_memory:
            return size(min_buffer_size, max_max_buffer_memory, config.max_buffer_memory);
        case opt_max_connections:
            return number(1, max_max_connections, config.max_connections);
        case opt_idle_timeout:
            return seconds(0, max_idle_timeout_s, config.idle_timeout_s);
        case opt_shutdown_timeout:
            return seconds(0, max_shutdown_timeout_s, config.shutdown_timeout_s);
        case opt_stats_interval:
            return seconds(0, max_stats_interval_s, config.stats_interval_s);
        case opt_metrics_file:
            if (*arg == '\0') {
                return "needs a file name";
            }
            config.metrics_file = arg;
            return {};
        case opt_metrics_listen: {
            auto parsed = common::parse_address_and_port(arg);
            if (auto* error = std::get_if<common::ParseError>(&parsed)) {
                return error->reason;
            }
            config.metrics_listen = arg;
            return {};
        }
        case opt_udp:
            config.udp = true;
            return {};
        case opt_reuseport:
            config.reuseport = true;
            return {};
        case opt_proxy_protocol:
            config.proxy_protocol = true;
            return {};
        case opt_workers:
            return number(1, max_workers, config.workers);
        case opt_fault:
            return add_fault(arg, config.faults);
        case opt_fault_share: {
            auto parsed = common::parse_fraction(arg);
            if (auto* error = std::get_if<common::ParseError>(&parsed)) {
                return error->reason;
            }
            if (std::get<double>(parsed) <= 0) {
                return fmt::format("'{}' is not above 0 (0 < P <= 1)", common::printable(arg));
            }
            config.faults.share = std::get<double>(parsed);
            return {};
        }
        case opt_fault_seed: {
            std::uint64_t seed = 0;
            if (std::string reason = number(0, UINT64_MAX, seed); !reason.empty()) {
                return reason;
            }
            config.faults.seed = seed;
            return {};
        }
        case opt_reuseaddr:
            config.reuseaddr = true;
            return {};
        case opt_no_reuseaddr:
            config.reuseaddr = false;
            return {};
        case opt_log_level: {
            std::string_view text = arg;
            for (common::LogLevel level :
                 {common::LogLevel::error, common::LogLevel::warn, common::LogLevel::info, common::LogLevel::debug}) {
                if (text == to_string(level)) {
                    config.log_level = level;
                    return {};
                }
            }
            return fmt::format("'{}' is not one of error, warn, info, debug", common::printable(text));
        }
        case 'v':
            config.log_level = common::LogLevel::debug;
            return {};
        case 'q':
            config.log_level = common::LogLevel::warn;
            return {};
        default:
            return "internal error: unhandled option";
    }
}

// The faults given so far, gone; share and seed stay.
void clear_faults(FaultConfig& faults) {
    FaultConfig fresh;
    fresh.share = faults.share;
    fresh.seed = faults.seed;
    faults = fresh;
}

// Options that are fine alone but not together: checked once the file and
// the command line are both applied. "" or the usage line.
std::string check_combinations(const Config& config) {
    if (config.workers > 1 && config.udp) {
        // Workers share TCP through SO_REUSEPORT; UDP sockets would each take
        // their own datagrams, or fail to bind: not supported yet.
        return usage_line("--workers: cannot be combined with --udp");
    }
    if (config.workers > 1) {
        for (const std::string& address : config.listen) {
            if (common::unix_path(address)) {
                // SO_REUSEPORT is for IP sockets: each worker would find the
                // others' live socket file in its way.
                return usage_line(fmt::format("--workers: cannot be combined with a Unix socket ('{}')",
                                              common::printable(address, common::max_quoted_path)));
            }
        }
    }
    const std::string& drop = config.faults.specs[static_cast<std::size_t>(Fault::drop)];
    if (!drop.empty() && !config.udp) {
        return usage_line(fmt::format("--fault: '{}' needs --udp (drop loses UDP datagrams)", common::printable(drop)));
    }
    return {};
}

std::string_view trim(std::string_view text) {
    constexpr std::string_view space = " \t\r";
    std::size_t first = text.find_first_not_of(space);
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(space) - first + 1);
}

// One pass of getopt_long over args, applied on top of result.config.
// config_file receives --config's value (the last one given).
void parse_args(std::span<const char* const> args, CommandLine& result, std::string& config_file) {
    common::GetoptArgs getopt("echod", args, long_options, short_options);
    bool help = false;
    bool version = false;
    bool listen_given = false;  // the first --listen replaces the file's or the default
    bool fault_given = false;   // the first --fault replaces the file's
    auto fail = [&result](std::string line) {
        result.action = CommandLine::Action::usage_error;
        result.error = std::move(line);
    };
    for (;;) {
        int c = getopt.next();
        if (c == -1) {
            break;
        }
        if (c == 'h') {
            help = true;
        } else if (c == opt_version) {
            version = true;
        } else if (c == opt_config) {
            config_file = optarg;
        } else if (c == ':' || c == '?') {
            return fail(getopt.malformed(c));
        } else {
            if (c == 'l' && !listen_given) {
                listen_given = true;
                result.config.listen.clear();
            }
            if (c == opt_fault && !fault_given) {
                fault_given = true;
                clear_faults(result.config.faults);
            }
            if (std::string reason = apply(c, optarg, result.config); !reason.empty()) {
                return fail(getopt.option_error(c, reason));
            }
        }
    }
    if (std::string error = getopt.stray(); !error.empty()) {
        return fail(error);
    }
    if (help) {
        result.action = CommandLine::Action::help;
    } else if (version) {
        result.action = CommandLine::Action::version;
    }
}

}  // namespace

std::string apply_config_text(std::string_view text, std::string_view path, Config& config) {
    bool listen_given = false;  // the file's first listen replaces the default
    int number = 0;
    while (!text.empty()) {
        std::size_t end = text.find('\n');
        std::string_view line = trim(text.substr(0, end));
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        ++number;
        if (line.empty() || line.front() == '#') {
            continue;
        }
        auto where = [&](std::string_view what) {
            return usage_line(fmt::format("{}:{}: {}", common::printable(path, common::max_quoted_path), number, what));
        };
        // Text only: a NUL would end the value early wherever C strings take it.
        if (line.find('\0') != std::string_view::npos) {
            return where("a NUL byte: not a text file");
        }
        std::size_t equals = line.find('=');
        if (equals == std::string_view::npos) {
            return where(fmt::format("expected 'key = value', got '{}'", common::printable(line)));
        }
        std::string key(trim(line.substr(0, equals)));
        std::string value(trim(line.substr(equals + 1)));

        // Every long option that takes a value, and the switches as booleans;
        // not help, version, config itself, or the -v/-q shorthands.
        const option* found = nullptr;
        for (const option& o : long_options) {
            if (o.name != nullptr && key == o.name && o.val != opt_config &&
                (o.has_arg == required_argument || o.val == opt_reuseaddr || o.val == opt_udp ||
                 o.val == opt_reuseport || o.val == opt_proxy_protocol)) {
                found = &o;
            }
        }
        if (found == nullptr) {
            return where(fmt::format("'{}': unknown key", common::printable(key)));
        }
        int option_value = found->val;
        if (found->has_arg == no_argument) {
            if (value == "true") {
                // as given
            } else if (value == "false") {
                if (option_value == opt_udp || option_value == opt_reuseport || option_value == opt_proxy_protocol) {
                    (option_value == opt_udp         ? config.udp
                     : option_value == opt_reuseport ? config.reuseport
                                                     : config.proxy_protocol) = false;
                    continue;
                }
                option_value = opt_no_reuseaddr;
            } else {
                return where(fmt::format("{}: '{}' is not true or false", key, common::printable(value)));
            }
        }
        if (option_value == 'l' && !listen_given) {
            listen_given = true;
            config.listen.clear();
        }
        if (std::string reason = apply(option_value, value.c_str(), config); !reason.empty()) {
            return where(fmt::format("{}: {}", key, reason));
        }
    }
    return {};
}

CommandLine parse_command_line(std::span<const char* const> args, const ReadFile& read_file) {
    // Two passes: the first finds --config (and any usage error); the second
    // applies the command line on top of the file, so the command line wins
    // wherever --config stands.
    CommandLine result;
    std::string config_file;
    parse_args(args, result, config_file);
    if (result.action != CommandLine::Action::run) {
        return result;
    }
    if (config_file.empty()) {
        result.error = check_combinations(result.config);
        if (!result.error.empty()) {
            result.action = CommandLine::Action::usage_error;
        }
        return result;
    }

    CommandLine merged;
    merged.config_file = config_file;
    std::string error;
    std::optional<std::string> text = read_file(config_file, error);
    if (!text) {
        merged.action = CommandLine::Action::usage_error;
        merged.error = usage_line(fmt::format("--config: cannot read '{}': {}",
                                              common::printable(config_file, common::max_quoted_path), error));
        return merged;
    }
    merged.error = apply_config_text(*text, config_file, merged.config);
    if (!merged.error.empty()) {
        merged.action = CommandLine::Action::usage_error;
        return merged;
    }
    parse_args(args, merged, config_file);
    if (merged.action == CommandLine::Action::run) {
        merged.error = check_combinations(merged.config);
        if (!merged.error.empty()) {
            merged.action = CommandLine::Action::usage_error;
        }
    }
    return merged;
}

std::optional<std::string> read_config_file(const std::string& path, std::string& error) {
    std::string text;
    error = common::read_text_file(path, max_config_size, text);
    if (!error.empty()) {
        return std::nullopt;
    }
    return text;
}

std::string check_metrics_file(const std::string& path) {
    if (path.empty()) {
        return {};
    }
    common::AtomicFile probe;
    if (std::string error = probe.open(path); !error.empty()) {
        return fmt::format("--metrics-file: {}: {}", common::printable(path, common::max_quoted_path), error);
    }
    return {};
}

std::string help_text() {
    const Config defaults;
    return fmt::format(
        "Usage: echod [OPTIONS]\n"
        "\n"
        "A TCP echo daemon: every byte read on a connection is written back on it,\n"
        "in order, as soon as it arrives.\n"
        "\n"
        "Options:\n"
        "  -l, --listen ADDR        IPv4 or IPv6 address literal to listen on, or\n"
        "                           unix:PATH for a Unix stream socket (a stale socket\n"
        "                           file there is replaced, and the file removed at\n"
        "                           exit); give it again for more addresses (default\n"
        "                           {}; '::' is IPv6 only)\n"
        "  -p, --port PORT          TCP port, 0 lets the kernel pick; not for unix:\n"
        "                           (default {})\n"
        "  -b, --backlog N          listen(2) backlog, 1..65535, capped by the\n"
        "                           kernel at somaxconn (default {})\n"
        "  -B, --buffer-size SIZE   ring buffer per active connection, 16B..256MiB;\n"
        "                           SIZE is bytes, or with K/KiB or M/MiB (default {})\n"
        "      --reuseaddr          set SO_REUSEADDR on the listening socket (default)\n"
        "      --no-reuseaddr       do not set SO_REUSEADDR\n"
        "      --reuseport          set SO_REUSEPORT, so that other processes can\n"
        "                           listen on the same port (the kernel spreads\n"
        "                           connections over them)\n"
        "      --workers N          run N single-threaded echod processes sharing the\n"
        "                           port (SO_REUSEPORT), 1..256; a parent forwards\n"
        "                           signals and restarts a worker that dies (default {})\n"
        "      --udp                also serve UDP echo (RFC 862) on the same IP\n"
        "                           addresses and port (not on unix: sockets); off by\n"
        "                           default: on a public address a UDP echo is a\n"
        "                           reflection amplifier\n"
        "      --proxy-protocol     every connection starts with a PROXY protocol header\n"
        "                           (v1 or v2, as HAProxy's send-proxy or send-proxy-v2\n"
        "                           write it): consumed, never echoed; logs name the\n"
        "                           client it carries. Only behind a balancer you trust\n"
        "      --max-connections N  connections served at once, 1..1000000; more are\n"
        "                           accepted and closed at once (default {})\n"
        "      --max-buffer-memory SIZE\n"
        "                           the rings lent at once add up to at most SIZE (at\n"
        "                           least one ring); a connection that needs one waits,\n"
        "                           not reading, for the next returned (default {})\n"
        "      --idle-timeout SECONDS\n"
        "                           close a connection after this long with no byte\n"
        "                           in either direction; 0 is never (default {:g})\n"
        "      --shutdown-timeout SECONDS\n"
        "                           how long SIGINT/SIGTERM waits for connections to\n"
        "                           drain before closing them (default {:g})\n"
        "      --stats-interval SECONDS\n"
        "                           log a stats line this often (default {:g}: only on\n"
        "                           SIGUSR1)\n"
        "      --metrics-file PATH  write the stats in Prometheus text format to PATH\n"
        "                           (atomically) every --stats-interval, or every {:g} s\n"
        "      --metrics-listen ADDR:PORT\n"
        "                           serve GET /metrics (Prometheus text format) over\n"
        "                           HTTP on ADDR:PORT, '[::1]:PORT' for IPv6; port 0\n"
        "                           lets the kernel pick (logged: 'metrics on URL')\n"
        "      --fault SPEC         misbehave on purpose, to test clients; repeat to\n"
        "                           combine: slice=SIZE[,pause=SECONDS] (echo in writes\n"
        "                           of at most SIZE bytes), delay=SECONDS[,jitter=SECONDS],\n"
        "                           rate=SIZE (bytes per second per connection),\n"
        "                           close=SIZE, reset=SIZE or stall=SIZE (after SIZE\n"
        "                           bytes echoed: FIN, RST, or silence), drop=P (lose\n"
        "                           UDP datagrams with probability P)\n"
        "      --fault-share P      the fraction of connections that misbehave,\n"
        "                           0 < P <= 1 (default {:g})\n"
        "      --fault-seed N       seed of every random draw of the faults, to replay\n"
        "                           a run (default: drawn at start, and logged)\n"
        "      --config FILE        read options from FILE: 'key = value' lines with\n"
        "                           the long option names, '#' comments; reuseaddr,\n"
        "                           reuseport, udp and proxy-protocol take true or\n"
        "                           false; the command line wins. SIGHUP reads it\n"
        "                           again: log-level, max-connections, idle-timeout,\n"
        "                           shutdown-timeout, stats-interval, metrics-file and\n"
        "                           the faults change live, the rest at a restart\n"
        "      --log-level LEVEL    error, warn, info or debug (default {})\n"
        "  -v, --verbose            same as --log-level debug\n"
        "  -q, --quiet              same as --log-level warn\n"
        "  -h, --help               print this help and exit\n"
        "      --version            print the version and exit\n"
        "\n"
        "Once listening, echod logs 'listening on HOST:PORT' (or unix:PATH) to\n"
        "stderr at every log level. SIGINT or SIGTERM drains connections and exits\n"
        "0; a second signal ends the drain at once and exits 1. SIGUSR1 logs one\n"
        "stats line. SIGHUP reloads the --config file. Exit status: 0 ok, 1 runtime\n"
        "error, 2 usage error.\n",
        defaults.listen.front(), defaults.port, defaults.backlog, common::format_size(defaults.buffer_size),
        defaults.workers, defaults.max_connections, common::format_size(defaults.max_buffer_memory),
        defaults.idle_timeout_s, defaults.shutdown_timeout_s, defaults.stats_interval_s, default_metrics_interval_s,
        defaults.faults.share, to_string(defaults.log_level));
}

}  // namespace echod
