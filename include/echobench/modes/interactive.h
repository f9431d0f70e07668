// --interactive: stdin goes to the server as it is read; echoes go to stdout.
// At stdin's end, waits for the last echo, then closes. One connection on one
// uv loop.
#pragma once

#include "echobench/options.h"

namespace echobench {

// Returns the exit status.
int run_interactive(const BenchConfig& config);

}  // namespace echobench
