#include "echod/options.h"

#include "echod/parse.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>

#include <fmt/format.h>
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
    opt_udp,
};

constexpr option long_options[] = {
    {"listen", required_argument, nullptr, 'l'},
    {"port", required_argument, nullptr, 'p'},
    {"backlog", required_argument, nullptr, 'b'},
    {"buffer-size", required_argument, nullptr, 'B'},
    {"reuseaddr", no_argument, nullptr, opt_reuseaddr},
    {"no-reuseaddr", no_argument, nullptr, opt_no_reuseaddr},
    {"max-connections", required_argument, nullptr, opt_max_connections},
    {"idle-timeout", required_argument, nullptr, opt_idle_timeout},
    {"shutdown-timeout", required_argument, nullptr, opt_shutdown_timeout},
    {"stats-interval", required_argument, nullptr, opt_stats_interval},
    {"metrics-file", required_argument, nullptr, opt_metrics_file},
    {"udp", no_argument, nullptr, opt_udp},
    {"log-level", required_argument, nullptr, opt_log_level},
    {"verbose", no_argument, nullptr, 'v'},
    {"quiet", no_argument, nullptr, 'q'},
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, opt_version},
    {nullptr, 0, nullptr, 0},
};

// Leading ':' makes getopt report a missing value as ':' rather than '?'.
constexpr const char* short_options = ":l:p:b:B:vqh";

const char* long_name(int value) {
    for (const option& o : long_options) {
        if (o.name != nullptr && o.val == value) {
            return o.name;
        }
    }
    return "?";
}

std::string usage_line(std::string_view what) {
    return fmt::format("echod: {} (see 'echod --help')", what);
}

std::string option_error(int value, std::string_view reason) {
    return usage_line(fmt::format("--{}: {}", long_name(value), reason));
}

bool is_address_literal(const std::string& text) {
    in_addr v4{};
    in6_addr v6{};
    return inet_pton(AF_INET, text.c_str(), &v4) == 1 || inet_pton(AF_INET6, text.c_str(), &v6) == 1;
}

// Applies one option's value to config; returns an error line or "".
std::string apply(int value, const char* arg, Config& config) {
    auto number = [&](std::uint64_t min, std::uint64_t max, auto& field) -> std::string {
        auto parsed = parse_uint(arg, min, max);
        if (auto* error = std::get_if<ParseError>(&parsed)) {
            return option_error(value, error->reason);
        }
        field = static_cast<std::remove_reference_t<decltype(field)>>(std::get<std::uint64_t>(parsed));
        return {};
    };
    auto seconds = [&](double min, double max, double& field) -> std::string {
        auto parsed = parse_seconds(arg, min, max);
        if (auto* error = std::get_if<ParseError>(&parsed)) {
            return option_error(value, error->reason);
        }
        field = std::get<double>(parsed);
        return {};
    };
    switch (value) {
        case 'l':
            if (!is_address_literal(arg)) {
                return option_error(value, fmt::format("'{}' is not an IPv4 or IPv6 address literal", printable(arg)));
            }
            config.listen.emplace_back(arg);
            return {};
        case 'p':
            return number(0, 65535, config.port);
        case 'b':
            return number(1, 65535, config.backlog);
        case 'B': {
            auto parsed = parse_size(arg, min_buffer_size, max_buffer_size);
            if (auto* error = std::get_if<ParseError>(&parsed)) {
                return option_error(value, error->reason);
            }
            config.buffer_size = std::get<std::uint64_t>(parsed);
            return {};
        }
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
                return option_error(value, "needs a file name");
            }
            config.metrics_file = arg;
            return {};
        case opt_udp:
            config.udp = true;
            return {};
        case opt_reuseaddr:
            config.reuseaddr = true;
            return {};
        case opt_no_reuseaddr:
            config.reuseaddr = false;
            return {};
        case opt_log_level: {
            std::string_view text = arg;
            for (LogLevel level : {LogLevel::error, LogLevel::warn, LogLevel::info, LogLevel::debug}) {
                if (text == to_string(level)) {
                    config.log_level = level;
                    return {};
                }
            }
            return option_error(value, fmt::format("'{}' is not one of error, warn, info, debug", printable(text)));
        }
        case 'v':
            config.log_level = LogLevel::debug;
            return {};
        case 'q':
            config.log_level = LogLevel::warn;
            return {};
        default:
            return usage_line("internal error: unhandled option");
    }
}

}  // namespace

CommandLine parse_command_line(std::span<const char* const> args) {
    CommandLine result;

    // getopt_long permutes argv and keeps global state: give it a private,
    // writable copy and reset it (optind = 0 asks glibc for a full restart).
    std::vector<std::string> storage(args.begin(), args.end());
    std::vector<char*> argv;
    argv.reserve(storage.size() + 1);
    for (std::string& s : storage) {
        argv.push_back(s.data());
    }
    argv.push_back(nullptr);
    int argc = static_cast<int>(storage.size());
    optind = 0;
    opterr = 0;

    bool help = false;
    bool version = false;
    bool listen_given = false;  // the first --listen replaces the default
    for (;;) {
        int c = getopt_long(argc, argv.data(), short_options, long_options, nullptr);
        if (c == -1) {
            break;
        }
        std::string error;
        if (c == 'h') {
            help = true;
        } else if (c == opt_version) {
            version = true;
        } else if (c == ':') {
            error = usage_line(fmt::format("--{}: missing value", long_name(optopt)));
        } else if (c == '?') {
            // optopt is the option's value when a known long option was given a
            // value it does not take; 0 for an unknown long option.
            const char* given = argv[static_cast<std::size_t>(optind) - 1];
            if (optopt != 0 && std::string_view(given).starts_with("--")) {
                error = usage_line(fmt::format("--{}: takes no value", long_name(optopt)));
            } else if (optopt != 0) {
                error = usage_line(
                    fmt::format("unknown option '-{}'", printable(std::string(1, static_cast<char>(optopt)))));
            } else {
                error = usage_line(fmt::format("unknown option '{}'", printable(given)));
            }
        } else {
            if (c == 'l' && !listen_given) {
                listen_given = true;
                result.config.listen.clear();
            }
            error = apply(c, optarg, result.config);
        }
        if (!error.empty()) {
            result.action = CommandLine::Action::usage_error;
            result.error = std::move(error);
            return result;
        }
    }
    if (optind < argc) {
        result.action = CommandLine::Action::usage_error;
        result.error =
            usage_line(fmt::format("unexpected argument '{}'", printable(argv[static_cast<std::size_t>(optind)])));
        return result;
    }
    if (help) {
        result.action = CommandLine::Action::help;
    } else if (version) {
        result.action = CommandLine::Action::version;
    }
    return result;
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
        "  -l, --listen ADDR        IPv4 or IPv6 address literal to listen on; give\n"
        "                           it again for more addresses (default {};\n"
        "                           '::' is IPv6 only)\n"
        "  -p, --port PORT          TCP port, 0 lets the kernel pick (default {})\n"
        "  -b, --backlog N          listen(2) backlog, 1..65535, capped by the\n"
        "                           kernel at somaxconn (default {})\n"
        "  -B, --buffer-size SIZE   ring buffer per active connection, 16B..256MiB;\n"
        "                           SIZE is bytes, or with K/KiB or M/MiB (default {})\n"
        "      --reuseaddr          set SO_REUSEADDR on the listening socket (default)\n"
        "      --no-reuseaddr       do not set SO_REUSEADDR\n"
        "      --udp                also serve UDP echo (RFC 862) on the same addresses\n"
        "                           and port; off by default: on a public address a UDP\n"
        "                           echo is a reflection amplifier\n"
        "      --max-connections N  connections served at once, 1..1000000; more are\n"
        "                           accepted and closed at once (default {})\n"
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
        "      --log-level LEVEL    error, warn, info or debug (default {})\n"
        "  -v, --verbose            same as --log-level debug\n"
        "  -q, --quiet              same as --log-level warn\n"
        "  -h, --help               print this help and exit\n"
        "      --version            print the version and exit\n"
        "\n"
        "Once listening, echod logs 'listening on HOST:PORT' to stderr at every log\n"
        "level. SIGINT or SIGTERM drains connections and exits 0; a second signal\n"
        "ends the drain at once and exits 1. SIGUSR1 logs one stats line. Exit status: 0 ok, 1 runtime error, 2 usage "
        "error.\n",
        defaults.listen.front(), defaults.port, defaults.backlog, format_size(defaults.buffer_size),
        defaults.max_connections, defaults.idle_timeout_s, defaults.shutdown_timeout_s, defaults.stats_interval_s,
        default_metrics_interval_s, to_string(defaults.log_level));
}

}  // namespace echod
