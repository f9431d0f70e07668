// The stats, reported: the periodic line (--stats-interval), the line on
// demand (SIGUSR1) and the Prometheus file (--metrics-file), all from one
// snapshot of the counters and gauges. A --workers worker sends its
// snapshots to the parent instead (Config::report_fd), which reports the
// sum (supervisor.cpp). --metrics-listen serves the same text over HTTP
// (metrics_http.h).
#pragma once

#include "echod/options.h"
#include "echod/stats.h"

#include <uv.h>

#include <cstdint>
#include <functional>

namespace echod {

// A --workers worker's stats interval, from the config as given: how often
// it sends its stats to the parent. With --metrics-listen (served by the
// parent) at least once a second, so that the parent's sums lag by a
// second at most.
double worker_stats_interval(const Config& given);

class Metrics {
public:
    // snapshot: the counters and gauges, now. The timer joins loop at once,
    // so close() must be called before the loop's last run.
    Metrics(uv_loop_t* loop, const Config& config, std::function<Stats()> snapshot);
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    // Reports every --stats-interval (or the metrics file's default), and
    // writes the file's first version, so that it exists from the start.
    void start();
    // A reload changed the interval or the file: the timer starts again
    // from now (0 stops it), and a new file is written at once.
    void restart();
    // SIGUSR1: a stats line now (and the file).
    void report_now();
    // The final figures, after the loop has stopped.
    void finish();
    // Stops the timer for good. Idempotent.
    void close();

private:
    static void on_tick(uv_timer_t* timer);
    void report(bool log_line);       // a stats line and/or the metrics file
    void send_to_parent(bool asked);  // --workers

    uv_loop_t* loop_;
    const Config& config_;
    std::function<Stats()> snapshot_;
    uv_timer_t timer_{};                  // --stats-interval / --metrics-file
    Stats last_reported_;                 // for the rates of the periodic line
    std::uint64_t last_reported_ms_ = 0;  // when it was taken
};

}  // namespace echod
