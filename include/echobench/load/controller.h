// echobench's load run as a whole: one Worker (worker.h) per --threads, each
// owning a share of the connections, and a controller on the main thread
// that moves every worker through the phases (run_control.h), ends the run
// (duration over, -n reached, Ctrl-C, every connection broken), shows the
// progress line and collects the results.
#pragma once

#include "echobench/options.h"
#include "echobench/results/result.h"

namespace echobench {

// Runs a load test as config says; fills result. Returns 0, or 1 with a line
// on stderr when the run could not start at all (no result then).
int run_load(const BenchConfig& config, BenchResult& result);

}  // namespace echobench
