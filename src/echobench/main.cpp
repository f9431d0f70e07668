// echobench: parse the command line, run the chosen mode, report.
#include "echod/bench_modes.h"
#include "echod/bench_options.h"
#include "echod/bench_report.h"
#include "echod/bench_runner.h"
#include "echod_version.h"

#include <uv.h>

#include <fmt/format.h>
#include <algorithm>
#include <csignal>
#include <cstdio>

int main(int argc, char** argv) {
    using echod::BenchCommandLine;
    BenchCommandLine command = echod::parse_bench_command_line({argv, static_cast<std::size_t>(argc)});
    switch (command.action) {
        case BenchCommandLine::Action::help:
            fmt::print("{}", echod::bench_help_text());
            return 0;
        case BenchCommandLine::Action::version:
            fmt::print("echobench {} (libuv {})\n", ECHOD_VERSION, uv_version_string());
            return 0;
        case BenchCommandLine::Action::usage_error:
            fmt::print(stderr, "{}\n", command.error);
            return 2;
        case BenchCommandLine::Action::run:
            break;
    }

    // A server that closes while we write must cost only that connection.
    std::signal(SIGPIPE, SIG_IGN);
    const echod::BenchConfig& config = command.config;
    switch (config.mode) {
        case echod::BenchConfig::Mode::ping:
            return echod::run_ping(config);
        case echod::BenchConfig::Mode::interactive:
            return echod::run_interactive(config);
        case echod::BenchConfig::Mode::load:
            break;
    }

    echod::BenchResult result;
    int run_status = echod::run_load(config, result);
    if (run_status != 0 && result.target.empty()) {
        return run_status;  // nothing ran: the reason is on stderr already
    }
    std::string report = config.json ? echod::format_json(result) : echod::format_table(result);
    std::fwrite(report.data(), 1, report.size(), stdout);
    std::fflush(stdout);
    std::string failure = echod::failure_summary(result);
    std::fputs(failure.c_str(), stderr);
    return std::max(run_status, echod::exit_status(result));
}
