// echobench: parse the command line, run the chosen mode, report.
#include "common/file.h"
#include "echobench/load/controller.h"
#include "echobench/modes/find_rate.h"
#include "echobench/modes/interactive.h"
#include "echobench/modes/ping.h"
#include "echobench/options.h"
#include "echobench/report/html.h"
#include "echobench/results/merge.h"
#include "echobench/results/result.h"
#include "echod_version.h"

#include <uv.h>

#include <fmt/format.h>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace {

// Prints the report (table or JSON) to stdout.
void print_report(const echobench::BenchConfig& config, const echobench::BenchResult& result) {
    std::string report = config.json ? echobench::format_json(result) : echobench::format_table(result);
    std::fwrite(report.data(), 1, report.size(), stdout);
    std::fflush(stdout);
}

// The files a run writes besides stdout: --histogram-out and --report. Each
// is opened before the run, so a path that cannot be written fails before
// any load, and appears whole or not at all.
class OutputFiles {
public:
    explicit OutputFiles(const echobench::BenchConfig& config) : config_(config) {}

    // False after a line on stderr.
    bool open() {
        return open_one("--histogram-out", config_.histogram_out, histogram_) &&
               open_one("--report", config_.report, report_);
    }

    // Writes what was asked for; false after a line on stderr for each failure.
    bool write(std::span<const echobench::ReportRun> runs, const echobench::BenchResult& result) {
        bool ok = true;
        if (!config_.histogram_out.empty()) {
            ok &= commit_one("--histogram-out", config_.histogram_out, histogram_,
                             echobench::format_histogram_document(result));
        }
        if (!config_.report.empty()) {
            ok &= commit_one("--report", config_.report, report_, echobench::format_html_report(runs));
        }
        return ok;
    }

    // --find-rate: the --report page alone (--histogram-out does not apply);
    // false after a line on stderr.
    bool write_page(std::string_view page) { return commit_one("--report", config_.report, report_, page); }

private:
    static bool open_one(const char* option, const std::string& path, common::AtomicFile& file) {
        if (path.empty()) {
            return true;
        }
        if (std::string error = file.open(path); !error.empty()) {
            fmt::print(stderr, "echobench: {}: {}: {}\n", option, path, error);
            return false;
        }
        return true;
    }

    static bool commit_one(const char* option, const std::string& path, common::AtomicFile& file,
                           std::string_view content) {
        if (std::string error = file.commit(content); !error.empty()) {
            fmt::print(stderr, "echobench: {}: {}: {}\n", option, path, error);
            return false;
        }
        return true;
    }

    const echobench::BenchConfig& config_;
    common::AtomicFile histogram_;
    common::AtomicFile report_;
};

// Reads every --merge or --compare file; false after one line naming the
// file that is unreadable or malformed.
bool read_runs(const echobench::BenchConfig& config, const char* option, std::vector<echobench::BenchResult>& runs) {
    runs.resize(config.input_files.size());
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const std::string& path = config.input_files[i];
        std::string text;
        std::string error = common::read_text_file(path, echobench::max_document_size, text);
        if (error.empty()) {
            error = echobench::parse_histogram_document(text, runs[i]);
        }
        if (!error.empty()) {
            fmt::print(stderr, "echobench: {}: {}: {}\n", option, path, error);
            return false;
        }
    }
    return true;
}

// Each file's failures on stderr, by file (the reasons stayed on the
// machines that ran them); the worst exit status among them.
int report_failed_runs(const echobench::BenchConfig& config, std::span<const echobench::BenchResult> runs) {
    int status = 0;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        echobench::BenchResult run = runs[i];
        run.target = config.input_files[i];
        std::string failure = echobench::failure_summary(run);
        std::fputs(failure.c_str(), stderr);
        status = std::max(status, echobench::exit_status(run));
    }
    return status;
}

// --merge: read every file, combine, report. 2 when a file is unreadable,
// malformed or does not fit the others (one line naming it); 1 when any run
// had errors or echoed nothing, or an output file failed; else 0.
int run_merge(const echobench::BenchConfig& config) {
    std::vector<echobench::BenchResult> runs;
    if (!read_runs(config, "--merge", runs)) {
        return 2;
    }
    echobench::BenchResult merged;
    if (std::string error = echobench::merge_runs(runs, config.input_files, merged); !error.empty()) {
        fmt::print(stderr, "echobench: --merge: {}\n", error);
        return 2;
    }
    OutputFiles out(config);
    if (!out.open()) {
        return 1;
    }
    print_report(config, merged);
    const echobench::ReportRun page[] = {{fmt::format("{} runs merged", merged.runs), merged}};
    int status = out.write(page, merged) ? 0 : 1;
    status = std::max(status, report_failed_runs(config, runs));
    return std::max(status, echobench::exit_status(merged));
}

// --compare: read every file, write one --report page of them all. 2 when a
// file is unreadable or malformed; 1 when any run had errors or echoed
// nothing (the page shows them), or the page could not be written; else 0.
int run_compare(const echobench::BenchConfig& config) {
    std::vector<echobench::BenchResult> results;
    if (!read_runs(config, "--compare", results)) {
        return 2;
    }
    std::vector<echobench::ReportRun> runs;
    for (std::size_t i = 0; i < results.size(); ++i) {
        runs.push_back({echobench::report_label(config.input_files[i]), results[i]});
    }
    OutputFiles out(config);
    if (!out.open()) {
        return 1;
    }
    int status = out.write(runs, results.front()) ? 0 : 1;
    return std::max(status, report_failed_runs(config, results));
}

// --find-rate: the search, then its JSON (the table went out step by step)
// and --report page. 0 when a rate met the SLO; 1 when none did, or when
// nothing could run, or the page could not be written.
int run_search(const echobench::BenchConfig& config) {
    OutputFiles out(config);
    if (!out.open()) {
        return 1;
    }
    echobench::FindRateResult search;
    search.version = ECHOD_VERSION;
    if (int status = echobench::run_find_rate(config, search); status != 0) {
        return status;
    }
    if (config.json) {
        std::string json = echobench::format_find_rate_json(search);
        std::fwrite(json.data(), 1, json.size(), stdout);
        std::fflush(stdout);
    }
    int status = 0;
    if (!config.report.empty() && !out.write_page(echobench::format_find_rate_report(search))) {
        status = 1;
    }
    return std::max(status, echobench::exit_status(search));
}

}  // namespace

int main(int argc, char** argv) {
    using echobench::BenchCommandLine;
    BenchCommandLine command = echobench::parse_bench_command_line({argv, static_cast<std::size_t>(argc)});
    switch (command.action) {
        case BenchCommandLine::Action::help:
            fmt::print("{}", echobench::bench_help_text());
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
    const echobench::BenchConfig& config = command.config;
    switch (config.mode) {
        case echobench::BenchConfig::Mode::ping:
            return echobench::run_ping(config);
        case echobench::BenchConfig::Mode::interactive:
            return echobench::run_interactive(config);
        case echobench::BenchConfig::Mode::merge:
            return run_merge(config);
        case echobench::BenchConfig::Mode::compare:
            return run_compare(config);
        case echobench::BenchConfig::Mode::find_rate:
            return run_search(config);
        case echobench::BenchConfig::Mode::load:
            break;
    }

    // Before the run: a path that cannot be written fails now, not after it.
    OutputFiles out(config);
    if (!out.open()) {
        return 1;
    }
    echobench::BenchResult result;
    result.version = ECHOD_VERSION;
    int run_status = echobench::run_load(config, result);
    if (run_status != 0 && result.target.empty()) {
        return run_status;  // nothing ran: the reason is on stderr already
    }
    print_report(config, result);
    const echobench::ReportRun page[] = {{result.target, result}};
    if (!out.write(page, result)) {
        run_status = std::max(run_status, 1);
    }
    std::string failure = echobench::failure_summary(result);
    std::fputs(failure.c_str(), stderr);
    return std::max(run_status, echobench::exit_status(result));
}
