// echod's counters and the two ways they are shown: a log line (SIGUSR1,
// --stats-interval) and the Prometheus text exposition format
// (--metrics-file). Pure: formatting only.
#pragma once

#include "echod/faults.h"

#include <array>
#include <cstdint>
#include <string>

namespace echod {

// Counters are plain integers bumped on the loop's thread: an add each, no
// atomics, no locks. Gauges are read when a line or file is written.
struct Stats {
    // counters, since start
    std::uint64_t accepted = 0;             // connections accepted and served
    std::uint64_t closed = 0;               // connections closed
    std::uint64_t refused = 0;              // over --max-connections: accepted and closed
    std::uint64_t closed_idle = 0;          // closed by --idle-timeout
    std::uint64_t accept_errors = 0;        // accepts that failed (out of fds, ...)
    std::uint64_t drain_cut_short = 0;      // still open at the drain deadline
    std::uint64_t bytes_in = 0;             // read from peers
    std::uint64_t bytes_out = 0;            // written back to peers
    std::uint64_t backpressure_pauses = 0;  // times a full ring stopped reading
    std::uint64_t udp_in = 0;               // datagrams received (--udp)
    std::uint64_t udp_out = 0;              // datagrams sent back
    std::uint64_t udp_dropped = 0;          // not sent back: socket full, truncated, or over delay's queue
    std::uint64_t fault_connections = 0;    // --fault: connections chosen to misbehave
    std::uint64_t proxy_errors = 0;         // --proxy-protocol: headers malformed, too long or late (closed unechoed)
    // --fault, by Fault: writes cut by slice, waits imposed by delay and
    // rate, connections ended by close, reset and stall, datagrams dropped.
    std::array<std::uint64_t, fault_kinds> faults{};
    // gauges, now
    std::uint64_t connections = 0;  // open connections
    std::uint64_t paused = 0;       // connections not reading because their ring is full
    std::uint64_t rings_in_use = 0;
    std::uint64_t rings_pooled = 0;
    std::uint64_t ring_bytes = 0;     // bytes per ring (--buffer-size)
    std::uint64_t rings_waiting = 0;  // connections waiting for a ring (--max-buffer-memory spent)
    std::uint64_t ring_budget = 0;    // --max-buffer-memory, bytes
};

// One line: gauges, totals, and rates over the `seconds` since `before`
// (rates are left out when seconds is 0).
std::string format_stats_line(const Stats& now, const Stats& before, double seconds);

// The Prometheus text exposition format (version 0.0.4), metrics prefixed
// "echod_".
std::string format_prometheus(const Stats& stats);

}  // namespace echod
