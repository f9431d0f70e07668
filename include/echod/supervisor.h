// --workers N: a parent that runs N single-threaded echod workers sharing
// the port through SO_REUSEPORT. The parent does no echo I/O: it reserves
// the port, forks the workers, forwards SIGINT/SIGTERM/SIGUSR1 (and SIGHUP,
// once it has read the --config file again itself), restarts a
// worker that dies (with a back-off), sums the stats they send it (and with
// --metrics-listen serves them over HTTP), and exits once every worker has
// drained.
#pragma once

#include "echod/options.h"
#include "echod/reload.h"

#include <functional>

namespace echod {

// source: the config as given, and what SIGHUP reads again. run_worker
// serves with the config it is given (one loop, one thread) and returns
// its exit status; it runs in a forked child. Returns the parent's
// exit status: 0 when every worker drained cleanly after the first signal,
// 1 otherwise (a start-up failure, or a second signal).
int run_workers(ConfigSource& source, const std::function<int(const Config&)>& run_worker);

}  // namespace echod
