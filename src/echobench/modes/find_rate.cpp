#include "echobench/modes/find_rate.h"

#include "common/address.h"
#include "echobench/load/controller.h"
#include "echobench/modes/rate_search.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace echobench {
namespace {

void print(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

}  // namespace

int run_find_rate(const BenchConfig& config, FindRateResult& search) {
    search.slo = config.slo;
    search.target = common::format_address(config.host, config.port);
    search.connections = config.connections;
    search.threads = std::min(config.threads, config.connections);
    search.size = config.size;
    search.pipeline = config.pipeline;
    search.warmup_s = config.warmup_s;
    search.step_duration_s = config.step_duration_s;
    RateSearch rates(config.rate > 0 ? config.rate : default_start_rate,
                     {.precision = 0.05, .max_steps = max_search_steps, .ceiling = 1e9});
    if (!config.json) {
        print(format_find_rate_heading(search));
    }
    while (!rates.done()) {
        // A load run as -r RATE -d STEP-DURATION would make it, writing no file.
        BenchConfig step_config = config;
        step_config.mode = BenchConfig::Mode::load;
        step_config.rate = rates.next_rate();
        step_config.duration_s = config.step_duration_s;
        step_config.messages = 0;
        step_config.histogram_out.clear();
        step_config.report.clear();
        FindRateStep step;
        step.rate = step_config.rate;
        step.result.version = search.version;
        if (run_load(step_config, step.result) != 0 && step.result.target.empty()) {
            // Could not start (the reason is on stderr): nothing to measure.
            if (search.steps.empty()) {
                return 1;
            }
            search.stop = "error";
            break;
        }
        step.pass = step_failure(config.slo, step.rate, step.result).empty();
        if (search.started_at.empty()) {
            search.started_at = step.result.started_at;
        }
        const bool interrupted = step.result.interrupted;
        search.steps.push_back(std::move(step));
        rates.record(search.steps.back().pass);
        if (!config.json) {
            print(format_find_rate_step(search, search.steps.size()));
        }
        // Errors by kind, with the first reason ("connection refused"): the
        // table and the JSON only count them.
        std::fputs(failure_summary(search.steps.back().result).c_str(), stderr);
        if (interrupted) {
            search.stop = "interrupted";  // Ctrl-C ends the search, not only the step
            break;
        }
    }
    if (search.stop.empty()) {
        search.stop = stop_name(rates.stop());
    }
    search.max_rate = rates.max_rate();
    if (!config.json) {
        print(format_find_rate_summary(search));
    }
    return 0;
}

}  // namespace echobench
