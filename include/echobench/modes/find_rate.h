// --find-rate: the search for the highest open-loop rate that meets --slo.
// Each step is a load run of its own (load/controller.h) on fresh
// connections, with its own warm-up and a measured window of
// --step-duration; rate_search.h picks the rates.
#pragma once

#include "echobench/options.h"
#include "echobench/results/find_rate.h"

namespace echobench {

// Runs the steps as config says, into search (whose version the caller
// sets); without --json, prints the table on stdout a line per step as they
// end. Returns 0, or 1 with a line on stderr when not even the first step
// could start (no steps then).
int run_find_rate(const BenchConfig& config, FindRateResult& search);

}  // namespace echobench
