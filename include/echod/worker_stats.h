// --workers: each worker's stats, sent to the parent, and the whole
// server's totals the parent makes of them.
//
// A worker writes a fixed-size record with one non-blocking write to a pipe
// shared by all workers (shorter than PIPE_BUF, so records never
// interleave); a full pipe drops the record rather than block the worker's
// loop. The parent keeps the latest record of each worker.
#pragma once

#include "echod/stats.h"

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace echod {

struct WorkerReport {
    std::int32_t pid = 0;     // the worker that sent it
    std::uint32_t asked = 0;  // 1: the answer to a SIGUSR1
    Stats stats;              // its counters and gauges, when sent
};

// One write; false if it could not go whole (pipe full: dropped).
bool send_worker_report(int fd, const WorkerReport& report);

// Reads every whole record waiting on the non-blocking fd into out.
void receive_worker_reports(int fd, std::vector<WorkerReport>& out);

// The sum over the workers. A worker that dies leaves its counters behind
// (retired), so the totals never go backwards when it restarts at zero;
// its gauges (open connections, rings) go with it.
class WorkerTotals {
public:
    explicit WorkerTotals(std::size_t workers) : latest_(workers) {}

    void update(std::size_t worker, const Stats& stats) { latest_[worker] = stats; }
    // The worker died: its counters move to the retired sum; it starts again from zero.
    void retire(std::size_t worker);
    Stats total() const;

private:
    std::vector<Stats> latest_;  // per worker slot, the last report of its current process
    Stats retired_;              // counters of the processes that died
};

}  // namespace echod
