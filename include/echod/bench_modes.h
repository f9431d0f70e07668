// echobench's two small modes, each one connection on one uv loop.
#pragma once

#include "echod/bench_options.h"

namespace echod {

// --ping: one message per --interval, one line per reply with its round-trip
// time, a summary after --count replies or on Ctrl-C. Returns the exit status.
int run_ping(const BenchConfig& config);

// --interactive: stdin goes to the server as it is read; echoes go to stdout.
// At stdin's end, waits for the last echo, then closes. Returns the exit status.
int run_interactive(const BenchConfig& config);

}  // namespace echod
