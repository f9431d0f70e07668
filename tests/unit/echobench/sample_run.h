// A made-up run with every field filled in, for the tests of what is made
// of runs: the JSON documents, --merge, the HTML report.
#pragma once

#include "echobench/results/result.h"

#include <algorithm>
#include <cstdint>

namespace echobench_test {

// n messages with latencies spread over [first, first + 100 us), a timeline
// of n / 4 + k messages in second k, up to the window's end.
inline echobench::BenchResult sample_run(std::uint64_t first, std::uint64_t n, std::uint32_t connections,
                                         double duration) {
    echobench::BenchResult r;
    r.target = "127.0.0.1:7007";
    r.connections = connections;
    r.established = connections;
    r.threads = 1;
    r.size = 64;
    r.pipeline = 1;
    r.warmup_s = 1;
    r.duration_s = duration;
    r.messages = n;
    for (std::uint64_t i = 0; i < n; ++i) {
        r.latency.record(first + (i * 7919) % 100000);
    }
    r.version = "0.1.0";
    r.started_at = "2026-11-30T01:00:00Z";
    r.warmup_start_s = 0.25;
    r.window_start_s = 1.25;
    r.window_end_s = 1.25 + duration;
    for (std::uint64_t k = 0; static_cast<double>(k) < r.window_end_s; ++k) {
        double dt = std::min(1.0, r.window_end_s - static_cast<double>(k));
        r.timeline.push_back({static_cast<double>(k), dt, n / 4 + k, first + k * 1000, connections});
    }
    return r;
}

}  // namespace echobench_test
