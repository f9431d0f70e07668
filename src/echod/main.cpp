// echod: parse the command line, run the server, report.
#include "common/file.h"
#include "common/log.h"
#include "common/parse.h"
#include "echod/options.h"
#include "echod/reload.h"
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
// source: what SIGHUP reads again.
int serve(const echod::Config& config, echod::ConfigSource& source) {
    uv_loop_t loop;
    if (int err = uv_loop_init(&loop); err != 0) {
        common::log_error("uv_loop_init: {}", uv_strerror(err));
        return 1;
    }
    int status = 0;
    {
        echod::Server server(&loop, config, source);
        status = server.run();
    }
    if (int err = uv_loop_close(&loop); err != 0) {
        common::log_error("uv_loop_close: {} (a handle was left open)", uv_strerror(err));
        return 1;
    }
    return status;
}

// The seed of the faults, drawn here when not given so that every worker
// uses the same one, and a reload that adds faults has one too.
void resolve_fault_seed(echod::FaultConfig& faults) {
    if (!faults.seed) {
        faults.seed = (std::uint64_t{std::random_device{}()} << 32U) ^ std::random_device{}() ^ uv_hrtime();
    }
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
    // A reload sent while echod starts (the file is being read anyway) must
    // not kill it: ignored until the server or the --workers parent handles
    // SIGHUP.
    std::signal(SIGHUP, SIG_IGN);
    common::set_log_level(command.config.log_level);
    if (std::string error = echod::check_metrics_file(command.config.metrics_file); !error.empty()) {
        common::log_error("{}", error);
        return 1;
    }
    resolve_fault_seed(command.config.faults);
    echod::announce_faults(command.config.faults);

    echod::ConfigSource source({argv, static_cast<std::size_t>(argc)}, command.config_file, command.config);
    if (command.config.workers > 1) {
        return echod::run_workers(source, [&source](const echod::Config& config) { return serve(config, source); });
    }
    return serve(command.config, source);
}
