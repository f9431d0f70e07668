// echod: parse the command line, run the server, report.
#include "common/file.h"
#include "common/log.h"
#include "common/parse.h"
#include "echod/options.h"
#include "echod/server.h"
#include "echod/supervisor.h"
#include "echod_version.h"

#include <uv.h>

#include <fmt/format.h>
#include <csignal>
#include <cstdio>
#include <random>

namespace {

// One single-threaded echod: one loop, one server, until it has drained.
int serve(const echod::Config& config) {
    uv_loop_t loop;
    if (int err = uv_loop_init(&loop); err != 0) {
        common::log_error("uv_loop_init: {}", uv_strerror(err));
        return 1;
    }
    int status = 0;
    {
        echod::Server server(&loop, config);
        status = server.run();
    }
    if (int err = uv_loop_close(&loop); err != 0) {
        common::log_error("uv_loop_close: {} (a handle was left open)", uv_strerror(err));
        return 1;
    }
    return status;
}

// A metrics file that can never be written is a start-up error, not a
// warning at every interval: the same check as echobench's --histogram-out
// (a temporary made beside it, and removed).
bool metrics_file_writable(const std::string& path) {
    if (path.empty()) {
        return true;
    }
    common::AtomicFile probe;
    if (std::string error = probe.open(path); !error.empty()) {
        common::log_error("--metrics-file: {}: {}", common::printable(path, common::max_quoted_path), error);
        return false;
    }
    return true;
}

// --fault: say so at every log level (a faulty echod must never pass for
// a healthy one), with the seed that replays it, drawn here when not given
// so that every worker uses the same one.
void announce_faults(echod::FaultConfig& faults) {
    if (!faults.any()) {
        return;
    }
    if (!faults.seed) {
        faults.seed = (std::uint64_t{std::random_device{}()} << 32U) ^ std::random_device{}() ^ uv_hrtime();
    }
    common::write_log_line("warn", "faults on: {}", fmt::make_format_args(echod::describe_faults(faults)));
}

}  // namespace

int main(int argc, char** argv) {
    using echod::CommandLine;
    CommandLine command = echod::parse_command_line({argv, static_cast<std::size_t>(argc)});
    switch (command.action) {
        case CommandLine::Action::help:
            fmt::print("{}", echod::help_text());
            return 0;
        case CommandLine::Action::version:
            fmt::print("echod {} (libuv {})\n", ECHOD_VERSION, uv_version_string());
            return 0;
        case CommandLine::Action::usage_error:
            fmt::print(stderr, "{}\n", command.error);
            return 2;
        case CommandLine::Action::run:
            break;
    }

    // A peer that closes while we write must cost only its connection: take
    // EPIPE from write(2) instead of dying of SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    common::set_log_level(command.config.log_level);
    if (!metrics_file_writable(command.config.metrics_file)) {
        return 1;
    }
    announce_faults(command.config.faults);

    if (command.config.workers > 1) {
        return echod::run_workers(command.config, serve);
    }
    return serve(command.config);
}
