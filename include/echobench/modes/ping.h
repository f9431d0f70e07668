// --ping: one message per --interval, one line per reply with its round-trip
// time, a summary after --count replies or on Ctrl-C. One connection on one
// uv loop.
#pragma once

#include "echobench/options.h"

namespace echobench {

// Returns the exit status.
int run_ping(const BenchConfig& config);

}  // namespace echobench
