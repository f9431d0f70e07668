#include "echobench/options.h"

#include "common/address.h"
#include "common/getopt_args.h"

#include "common/parse.h"

#include <fmt/format.h>
#include <vector>

namespace echobench {
namespace {

// getopt_long values for options that have no short form.
enum LongOnly : int {
    opt_warmup = 256,
    opt_no_verify,
    opt_json,
    opt_timeout,
    opt_connect_rate,
    opt_ping,
    opt_interactive,
    opt_count,
    opt_version,
    opt_histogram_out,
    opt_merge,
    opt_report,
    opt_compare,
    opt_messages_per_connection,
    opt_find_rate,
    opt_slo,
    opt_step_duration,
};

constexpr option long_options[] = {
    {"host", required_argument, nullptr, 'H'},
    {"port", required_argument, nullptr, 'p'},
    {"connections", required_argument, nullptr, 'c'},
    {"size", required_argument, nullptr, 's'},
    {"pipeline", required_argument, nullptr, 'P'},
    {"duration", required_argument, nullptr, 'd'},
    {"messages", required_argument, nullptr, 'n'},
    {"rate", required_argument, nullptr, 'r'},
    {"warmup", required_argument, nullptr, opt_warmup},
    {"no-verify", no_argument, nullptr, opt_no_verify},
    {"json", no_argument, nullptr, opt_json},
    {"threads", required_argument, nullptr, 't'},
    {"timeout", required_argument, nullptr, opt_timeout},
    {"connect-rate", required_argument, nullptr, opt_connect_rate},
    {"ping", no_argument, nullptr, opt_ping},
    {"interactive", no_argument, nullptr, opt_interactive},
    {"interval", required_argument, nullptr, 'i'},
    {"count", required_argument, nullptr, opt_count},
    {"histogram-out", required_argument, nullptr, opt_histogram_out},
    {"merge", no_argument, nullptr, opt_merge},
    {"report", required_argument, nullptr, opt_report},
    {"compare", no_argument, nullptr, opt_compare},
    {"messages-per-connection", required_argument, nullptr, opt_messages_per_connection},
    {"find-rate", no_argument, nullptr, opt_find_rate},
    {"slo", required_argument, nullptr, opt_slo},
    {"step-duration", required_argument, nullptr, opt_step_duration},
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, opt_version},
    {nullptr, 0, nullptr, 0},
};

// Leading '-' makes getopt return each non-option argument in order, as the
// value of option 1 (--merge's files); then ':' makes it report a missing
// value as ':' rather than '?'.
constexpr const char* short_options = "-:H:p:c:s:P:d:n:r:t:i:h";
constexpr int opt_argument = 1;

std::string usage_line(std::string_view what) {
    return common::usage_line("echobench", what);
}

const char* mode_name(BenchConfig::Mode mode) {
    switch (mode) {
        case BenchConfig::Mode::ping:
            return "ping";
        case BenchConfig::Mode::interactive:
            return "interactive";
        case BenchConfig::Mode::merge:
            return "merge";
        case BenchConfig::Mode::compare:
            return "compare";
        case BenchConfig::Mode::find_rate:
            return "find-rate";
        case BenchConfig::Mode::load:
            break;
    }
    return "load";
}

// What the user asked for beyond the defaults, to check combinations once
// every option has been seen (a later option overrides an earlier one).
struct Seen {
    bool ping_only = false;  // --interval or --count
    int ping_only_option = 0;
    int load_option = 0;        // the first option that only a load run (or --ping) reads
    int mode_option = 0;        // the last of --ping, --interactive, --merge, --compare
    int load_only_option = 0;   // an option that only a load run reads (not --ping)
    bool has_argument = false;  // a non-option argument was given
    std::string argument;       // the first one
    int find_rate_only = 0;     // the last of --slo, --step-duration
    bool duration = false;      // -d was given (--find-rate has --step-duration instead)
};

// --slo's value, "p99=1000", into slo; returns the reason it is wrong or "".
std::string parse_slo(const char* arg, Slo& slo) {
    struct Known {
        const char* name;
        double quantile;
    };
    static constexpr Known known[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}};
    const std::string_view text = arg;
    const auto equals = text.find('=');
    const std::string_view name = text.substr(0, equals);
    const Known* found = nullptr;
    for (const Known& k : known) {
        if (name == k.name) {
            found = &k;
        }
    }
    if (equals == std::string_view::npos || found == nullptr) {
        return fmt::format("'{}' is not PCT=MICROSECONDS with PCT one of p50, p90, p99, p999 (e.g. p99=1000)",
                           common::printable(text));
    }
    auto parsed = common::parse_uint(text.substr(equals + 1), 1, max_slo_us);
    if (auto* error = std::get_if<common::ParseError>(&parsed)) {
        return fmt::format("{}: {}", name, error->reason);
    }
    slo = {found->name, found->quantile, std::get<std::uint64_t>(parsed)};
    return {};
}

// Applies one option's value to config; returns an error line or "".
std::string apply(const common::GetoptArgs& getopt, int value, const char* arg, BenchConfig& config, Seen& seen) {
    auto option_error = [&getopt](int option, std::string_view reason) { return getopt.option_error(option, reason); };
    auto number = [&](std::uint64_t min, std::uint64_t max, auto& field) -> std::string {
        auto parsed = common::parse_uint(arg, min, max);
        if (auto* error = std::get_if<common::ParseError>(&parsed)) {
            return option_error(value, error->reason);
        }
        field = static_cast<std::remove_reference_t<decltype(field)>>(std::get<std::uint64_t>(parsed));
        return {};
    };
    auto seconds = [&](double min, double max, double& field) -> std::string {
        auto parsed = common::parse_seconds(arg, min, max);
        if (auto* error = std::get_if<common::ParseError>(&parsed)) {
            return option_error(value, error->reason);
        }
        field = std::get<double>(parsed);
        return {};
    };
    // A rate is a decimal number like SECONDS, but the reason must not say seconds.
    auto per_second = [&](double min, double max, double& field) -> std::string {
        auto parsed = common::parse_seconds(arg, min, max);
        if (std::holds_alternative<common::ParseError>(parsed)) {
            auto check = common::parse_seconds(arg, 0, 1e300);
            if (std::holds_alternative<common::ParseError>(check)) {
                return option_error(value, fmt::format("'{}' is not a number per second", common::printable(arg)));
            }
            return option_error(value, std::get<common::ParseError>(parsed).reason);
        }
        field = std::get<double>(parsed);
        return {};
    };
    switch (value) {
        case 'H':
        case 'p':
        case 'c':
        case 's':
        case 'P':
        case 'd':
        case 'n':
        case 'r':
        case opt_warmup:
        case opt_no_verify:
        case 't':
        case opt_timeout:
        case opt_connect_rate:
        case 'i':
        case opt_count:
        case opt_messages_per_connection:
        case opt_slo:
        case opt_step_duration:
            if (seen.load_option == 0) {
                seen.load_option = value;
            }
            break;
        default:
            break;
    }
    switch (value) {
        case 'H':
            if (std::string reason = common::check_address(arg); !reason.empty()) {
                return option_error(value, reason);
            }
            config.host = arg;
            return {};
        case 'p':
            return number(1, 65535, config.port);
        case 'c':
            return number(1, max_connections, config.connections);
        case 's': {
            auto parsed = common::parse_size(arg, 1, max_message_size);
            if (auto* error = std::get_if<common::ParseError>(&parsed)) {
                return option_error(value, error->reason);
            }
            config.size = std::get<std::uint64_t>(parsed);
            return {};
        }
        case 'P':
            return number(1, max_pipeline, config.pipeline);
        case 'd':
            seen.duration = true;
            return seconds(0.001, 1e7, config.duration_s);
        case 'n':
            return number(1, UINT64_MAX / 2, config.messages);
        case 'r':
            return per_second(0.001, 1e9, config.rate);
        case opt_warmup:
            return seconds(0, 1e7, config.warmup_s);
        case opt_no_verify:
            config.verify = false;
            return {};
        case opt_json:
            config.json = true;
            return {};
        case 't':
            return number(1, max_threads, config.threads);
        case opt_timeout:
            return seconds(0.001, 1e7, config.timeout_s);
        case opt_connect_rate:
            return per_second(1, 1e7, config.connect_rate);
        case opt_messages_per_connection:
            seen.load_only_option = value;
            return number(0, UINT64_MAX / 2, config.messages_per_connection);
        case opt_ping:
        case opt_interactive:
        case opt_merge:
        case opt_compare:
        case opt_find_rate: {
            const BenchConfig::Mode mode = value == opt_ping          ? BenchConfig::Mode::ping
                                           : value == opt_interactive ? BenchConfig::Mode::interactive
                                           : value == opt_merge       ? BenchConfig::Mode::merge
                                           : value == opt_compare     ? BenchConfig::Mode::compare
                                                                      : BenchConfig::Mode::find_rate;
            if (config.mode != BenchConfig::Mode::load && config.mode != mode) {
                return option_error(value, fmt::format("cannot be combined with --{}", mode_name(config.mode)));
            }
            config.mode = mode;
            seen.mode_option = value;
            return {};
        }
        case opt_histogram_out:
            if (*arg == '\0') {
                return option_error(value, "empty file name");
            }
            config.histogram_out = arg;
            return {};
        case opt_report:
            if (*arg == '\0') {
                return option_error(value, "empty file name");
            }
            config.report = arg;
            return {};
        case opt_argument:
            if (!seen.has_argument) {
                seen.has_argument = true;
                seen.argument = arg;
            }
            config.input_files.emplace_back(arg);
            return {};
        case 'i':
            seen.ping_only = true;
            seen.ping_only_option = value;
            return seconds(0.001, 1e7, config.interval_s);
        case opt_count:
            seen.ping_only = true;
            seen.ping_only_option = value;
            return number(1, UINT64_MAX / 2, config.count);
        case opt_slo:
            seen.find_rate_only = value;
            if (std::string reason = parse_slo(arg, config.slo); !reason.empty()) {
                return option_error(value, reason);
            }
            return {};
        case opt_step_duration:
            seen.find_rate_only = value;
            return seconds(0.001, 1e7, config.step_duration_s);
        default:
            return usage_line("internal error: unhandled option");
    }
}

// Errors only visible once all options are in.
std::string check_combination(const common::GetoptArgs& getopt, const BenchConfig& config, const Seen& seen) {
    auto option_error = [&getopt](int option, std::string_view reason) { return getopt.option_error(option, reason); };
    if (!config.report.empty() && config.report == config.histogram_out) {
        return option_error(opt_report, "is the same file as --histogram-out");
    }
    if (config.mode == BenchConfig::Mode::merge) {
        if (seen.load_option != 0) {
            return option_error(seen.load_option, "does not apply with --merge");
        }
        if (config.input_files.empty()) {
            return option_error(opt_merge, "no files given (echobench --merge FILE...)");
        }
        return {};
    }
    if (config.mode == BenchConfig::Mode::compare) {
        if (seen.load_option != 0) {
            return option_error(seen.load_option, "does not apply with --compare");
        }
        if (config.json) {
            return option_error(opt_json, "does not apply with --compare (it writes --report's page only)");
        }
        if (!config.histogram_out.empty()) {
            return option_error(opt_histogram_out, "does not apply with --compare (use --merge to combine runs)");
        }
        if (config.report.empty()) {
            return option_error(opt_compare,
                                "needs --report FILE.html (echobench --report FILE.html --compare FILE...)");
        }
        if (config.input_files.empty()) {
            return option_error(opt_compare, "no files given (echobench --report FILE.html --compare FILE...)");
        }
        for (const std::string& input : config.input_files) {
            if (input == config.report) {
                return option_error(opt_report, fmt::format("would overwrite '{}', a file to compare",
                                                            common::printable(input, common::max_quoted_path)));
            }
        }
        return {};
    }
    if ((config.mode == BenchConfig::Mode::ping || config.mode == BenchConfig::Mode::interactive) &&
        !config.histogram_out.empty()) {
        return option_error(opt_histogram_out, "only applies to a load run or --merge");
    }
    if ((config.mode == BenchConfig::Mode::ping || config.mode == BenchConfig::Mode::interactive) &&
        !config.report.empty()) {
        return option_error(opt_report, "only applies to a load run, --merge or --compare");
    }
    if (seen.load_only_option != 0 && config.mode != BenchConfig::Mode::load) {
        return option_error(seen.load_only_option, "only applies to a load run");
    }
    if (seen.ping_only && config.mode != BenchConfig::Mode::ping) {
        return option_error(seen.ping_only_option, "only applies with --ping");
    }
    if (seen.find_rate_only != 0 && config.mode != BenchConfig::Mode::find_rate) {
        return option_error(seen.find_rate_only, "only applies with --find-rate");
    }
    if (config.mode == BenchConfig::Mode::find_rate) {
        if (config.messages > 0) {
            return option_error('n', "does not apply with --find-rate (each step lasts --step-duration)");
        }
        if (seen.duration) {
            return option_error('d', "does not apply with --find-rate (use --step-duration)");
        }
        if (!config.histogram_out.empty()) {
            return option_error(opt_histogram_out,
                                "does not apply with --find-rate (its --json holds every step's latencies)");
        }
    }
    if (config.mode == BenchConfig::Mode::load || config.mode == BenchConfig::Mode::find_rate) {
        // Saturating: each factor is bounded, but their product need not fit.
        long double total =
            static_cast<long double>(config.connections) * config.pipeline * static_cast<long double>(config.size);
        if (total > static_cast<long double>(max_send_buffers)) {
            return option_error('s', fmt::format("{} connections x pipeline {} x {} of send buffers exceeds {}",
                                                 config.connections, config.pipeline, common::format_size(config.size),
                                                 common::format_size(max_send_buffers)));
        }
    }
    return {};
}

}  // namespace

BenchCommandLine parse_bench_command_line(std::span<const char* const> args) {
    BenchCommandLine result;

    common::GetoptArgs getopt("echobench", args, long_options, short_options);
    bool help = false;
    bool version = false;
    Seen seen;
    for (;;) {
        int c = getopt.next();
        if (c == -1) {
            break;
        }
        std::string error;
        if (c == 'h') {
            help = true;
        } else if (c == opt_version) {
            version = true;
        } else if (c == ':' || c == '?') {
            error = getopt.malformed(c);
        } else {
            error = apply(getopt, c, optarg, result.config, seen);
        }
        if (!error.empty()) {
            result.action = BenchCommandLine::Action::usage_error;
            result.error = std::move(error);
            return result;
        }
    }
    if (result.config.mode != BenchConfig::Mode::merge && result.config.mode != BenchConfig::Mode::compare &&
        seen.has_argument) {
        result.action = BenchCommandLine::Action::usage_error;
        result.error = getopt.usage_line(fmt::format("unexpected argument '{}'", common::printable(seen.argument)));
        return result;
    }
    if (std::string stray = getopt.stray(); !stray.empty()) {
        result.action = BenchCommandLine::Action::usage_error;
        result.error = std::move(stray);
        return result;
    }
    if (help) {
        result.action = BenchCommandLine::Action::help;
        return result;
    }
    if (version) {
        result.action = BenchCommandLine::Action::version;
        return result;
    }
    if (std::string error = check_combination(getopt, result.config, seen); !error.empty()) {
        result.action = BenchCommandLine::Action::usage_error;
        result.error = std::move(error);
    }
    return result;
}

std::string bench_help_text() {
    const BenchConfig d;
    return fmt::format(
        "Usage: echobench [OPTIONS]\n"
        "       echobench --ping [-i SECONDS] [--count N] [OPTIONS]\n"
        "       echobench --interactive [OPTIONS]\n"
        "       echobench --merge [--json] [--histogram-out FILE] [--report FILE] FILE...\n"
        "       echobench --report FILE.html --compare FILE...\n"
        "       echobench --find-rate [--slo PCT=MICROSECONDS] [--step-duration SECONDS] [OPTIONS]\n"
        "\n"
        "A load client for TCP echo servers (echod or any other): it sends messages\n"
        "over many connections, checks that every byte comes back unchanged, and\n"
        "reports throughput and latency percentiles.\n"
        "\n"
        "Options:\n"
        "  -H, --host ADDR          server address, IPv4 or IPv6 literal, or unix:PATH\n"
        "                           for a Unix stream socket (default {})\n"
        "  -p, --port PORT          server port; not for unix:PATH (default {})\n"
        "  -c, --connections N      concurrent connections, 1..{} (default {})\n"
        "  -s, --size SIZE          bytes per message, 1B..{}; SIZE is bytes, or with\n"
        "                           K/KiB or M/MiB (default {})\n"
        "  -P, --pipeline K         messages in flight per connection, 1..{} (default {})\n"
        "  -d, --duration SECONDS   measured run length, after warm-up (default {:g})\n"
        "  -n, --messages N         stop after N echoed messages instead of a duration\n"
        "  -r, --rate R             open loop: R messages/s in total, each latency\n"
        "                           measured from the message's scheduled send time;\n"
        "                           at most K in flight per connection (default: closed\n"
        "                           loop, each connection sends when a reply is back)\n"
        "      --warmup SECONDS     traffic before measuring, not counted (default {:g})\n"
        "      --no-verify          do not check that echoed bytes equal those sent\n"
        "      --json               print one JSON object on stdout instead of a table\n"
        "  -t, --threads T          event loops (threads) sharing the connections,\n"
        "                           1..{} (default {})\n"
        "      --timeout SECONDS    a connection waiting this long for any echoed byte,\n"
        "                           or for its connect, counts as failed (default {:g})\n"
        "      --connect-rate R     new connections per second while starting (default {:g})\n"
        "      --messages-per-connection N\n"
        "                           churn: each connection closes after N echoed\n"
        "                           messages (FIN, then the server's FIN) and a new one\n"
        "                           takes its place; a place whose new connection\n"
        "                           fails stays empty; 0 keeps connections (default {})\n"
        "      --ping               one connection, one message per interval, one line\n"
        "                           per reply; a summary at the end or on Ctrl-C\n"
        "  -i, --interval SECONDS   --ping: time between messages (default {:g})\n"
        "      --count N            --ping: stop after N replies (default: until Ctrl-C)\n"
        "      --interactive        send stdin to the server and print the echoes on\n"
        "                           stdout, until stdin ends\n"
        "      --histogram-out FILE also write the report with the full latency\n"
        "                           histogram (lossless) to FILE, as JSON, for --merge\n"
        "      --merge FILE...      no load: combine runs written by --histogram-out\n"
        "                           (e.g. from several load machines, run at the same\n"
        "                           time) into one report: messages, connections and\n"
        "                           msgs/s summed, duration the longest, percentiles\n"
        "                           from the merged histograms; same --size required\n"
        "      --report FILE.html   also write a self-contained HTML page of the run:\n"
        "                           throughput, p99 and connections per second\n"
        "                           (warm-up shaded), the latency percentile spectrum,\n"
        "                           parameters and errors; no network needed to view it\n"
        "      --compare FILE...    no load: with --report, one page of runs written by\n"
        "                           --histogram-out, overlaid on the same axes (runs of\n"
        "                           the same load share a section), with a legend\n"
        "      --find-rate          instead of one run, search for the highest open-loop\n"
        "                           rate that meets --slo: steps of --step-duration,\n"
        "                           each with fresh connections and its own warm-up,\n"
        "                           doubling from --rate (default {:g}/s) until one\n"
        "                           fails, then bisecting until the highest passing and\n"
        "                           the lowest failing rate are within 5%; at most {}\n"
        "                           steps. A step passes when its latency percentile is\n"
        "                           at or under the bound, it achieved 99% of its rate,\n"
        "                           and nothing failed. Not with -n, -d, --histogram-out\n"
        "      --slo PCT=MICROSECONDS  --find-rate: PCT one of p50, p90, p99, p999\n"
        "                           (default {}={})\n"
        "      --step-duration SECONDS  --find-rate: measured length of each step\n"
        "                           (default {:g})\n"
        "  -h, --help               print this help and exit\n"
        "      --version            print the version and exit\n"
        "\n"
        "Connections are opened first, at the connect rate; then warm-up traffic;\n"
        "then the measured window. Progress goes to stderr when it is a terminal;\n"
        "Ctrl-C ends the window early and still reports.\n"
        "Exit status: 0 clean run; 1 when an echoed byte differed, a connection\n"
        "failed, broke or timed out, or nothing was echoed (--merge, --compare: in\n"
        "any run); 2 usage error, or a --merge or --compare file that is unreadable\n"
        "or does not fit. --find-rate: 0 when a rate met the SLO, 1 when none did.\n",
        d.host, d.port, max_connections, d.connections, common::format_size(max_message_size),
        common::format_size(d.size), max_pipeline, d.pipeline, d.duration_s, d.warmup_s, max_threads, d.threads,
        d.timeout_s, d.connect_rate, d.messages_per_connection, d.interval_s, default_start_rate, max_search_steps,
        d.slo.percentile, d.slo.us, d.step_duration_s);
}

}  // namespace echobench
