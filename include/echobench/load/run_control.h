// What the controller (main thread) and the workers share during a load run:
// the phase and the measured window, written by the controller and read by
// every worker, and the -n total the workers' clients claim from.
//
//   connecting ──all connected or failed──> warmup ──window start──> measuring
//        │                                                              │ duration over, -n reached,
//        └──── nothing connected ─────────────────> draining <──────────┘ Ctrl-C, or all broken
//                                                     │ every connection closed
//                                                   done (threads joined, results merged)
#pragma once

#include <atomic>
#include <cstdint>

namespace echobench {

enum class Phase : int { connecting, warmup, measuring, draining, aborting };

// Written by the controller, read by every worker (but messages_claimed).
struct RunControl {
    std::uint64_t run_start_ns = 0;  // the timeline's zero; set before any worker starts
    std::atomic<Phase> phase{Phase::connecting};
    std::atomic<std::uint64_t> traffic_start_ns{0};          // open loop: the schedule's zero
    std::atomic<std::uint64_t> window_start_ns{UINT64_MAX};  // messages count from here...
    std::atomic<std::uint64_t> window_end_ns{UINT64_MAX};    // ...to here (exclusive)
    // -n: messages claimed to count, by every worker's clients. On a line of
    // its own: the workers write it per batch, and read the window per read.
    alignas(64) std::atomic<std::uint64_t> messages_claimed{0};
};

}  // namespace echobench
