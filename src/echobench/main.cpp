// echobench: parse the command line, run the chosen mode, report.
#include "echod/bench_merge.h"
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
#include <string>
#include <vector>

namespace {

// Prints the report (table or JSON) to stdout.
void print_report(const echod::BenchConfig& config, const echod::BenchResult& result) {
    std::string report = config.json ? echod::format_json(result) : echod::format_table(result);
    std::fwrite(report.data(), 1, report.size(), stdout);
    std::fflush(stdout);
}

// Opens --histogram-out's temporary file, if asked for; false after a line on stderr.
bool open_histogram_out(const echod::BenchConfig& config, echod::AtomicFile& file) {
    if (config.histogram_out.empty()) {
        return true;
    }
    if (std::string error = file.open(config.histogram_out); !error.empty()) {
        fmt::print(stderr, "echobench: --histogram-out: {}: {}\n", config.histogram_out, error);
        return false;
    }
    return true;
}

// Writes --histogram-out, if asked for; false after a line on stderr.
bool write_histogram_out(const echod::BenchConfig& config, echod::AtomicFile& file, const echod::BenchResult& result) {
    if (config.histogram_out.empty()) {
        return true;
    }
    if (std::string error = file.commit(echod::format_histogram_document(result)); !error.empty()) {
        fmt::print(stderr, "echobench: --histogram-out: {}: {}\n", config.histogram_out, error);
        return false;
    }
    return true;
}

// --merge: read every file, combine, report. 2 when a file is unreadable,
// malformed or does not fit the others (one line naming it); 1 when any run
// had errors or echoed nothing, or --histogram-out failed; else 0.
int run_merge(const echod::BenchConfig& config) {
    std::vector<echod::BenchResult> runs(config.merge_files.size());
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const std::string& path = config.merge_files[i];
        std::string text;
        std::string error = echod::read_text_file(path, text);
        if (error.empty()) {
            error = echod::parse_histogram_document(text, runs[i]);
        }
        if (!error.empty()) {
            fmt::print(stderr, "echobench: --merge: {}: {}\n", path, error);
            return 2;
        }
    }
    echod::BenchResult merged;
    if (std::string error = echod::merge_runs(runs, config.merge_files, merged); !error.empty()) {
        fmt::print(stderr, "echobench: --merge: {}\n", error);
        return 2;
    }
    echod::AtomicFile out;
    if (!open_histogram_out(config, out)) {
        return 1;
    }
    print_report(config, merged);
    int status = write_histogram_out(config, out, merged) ? 0 : 1;
    // Which runs failed, by file: the reasons stayed on their machines.
    for (std::size_t i = 0; i < runs.size(); ++i) {
        echod::BenchResult run = runs[i];
        run.target = config.merge_files[i];
        std::string failure = echod::failure_summary(run);
        std::fputs(failure.c_str(), stderr);
        status = std::max(status, echod::exit_status(run));
    }
    return std::max(status, echod::exit_status(merged));
}

}  // namespace

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
        case echod::BenchConfig::Mode::merge:
            return run_merge(config);
        case echod::BenchConfig::Mode::load:
            break;
    }

    // Before the run: a path that cannot be written fails now, not after it.
    echod::AtomicFile histogram_out;
    if (!open_histogram_out(config, histogram_out)) {
        return 1;
    }
    echod::BenchResult result;
    result.version = ECHOD_VERSION;
    int run_status = echod::run_load(config, result);
    if (run_status != 0 && result.target.empty()) {
        return run_status;  // nothing ran: the reason is on stderr already
    }
    print_report(config, result);
    if (!write_histogram_out(config, histogram_out, result)) {
        run_status = std::max(run_status, 1);
    }
    std::string failure = echod::failure_summary(result);
    std::fputs(failure.c_str(), stderr);
    return std::max(run_status, echod::exit_status(result));
}
