// The faults of one loop (--fault): their config, which connections get
// them, and the one libuv timer that every held-back write, slice pause and
// stalled peer's check waits on (a heap of deadlines, not a timer each).
#pragma once

#include "echod/faults.h"
#include "echod/timer_heap.h"

#include <uv.h>

#include <cstdint>
#include <deque>
#include <vector>

namespace echod {

class FaultClock {
public:
    // A deadline inside its owner; fire(owner) runs when it is due.
    struct Timer : TimerHeap::Node {
        void* owner = nullptr;
        void (*fire)(void* owner) = nullptr;
    };

    explicit FaultClock(uv_loop_t* loop);
    FaultClock(const FaultClock&) = delete;
    FaultClock& operator=(const FaultClock&) = delete;

    // Fires timer at due_us (now_us() time), or moves it there.
    void schedule(Timer& timer, std::uint64_t due_us);
    // Fires timer at due_us at the latest: earlier if it is due sooner.
    void schedule_by(Timer& timer, std::uint64_t due_us) {
        if (!timer.scheduled() || timer.due > due_us) {
            schedule(timer, due_us);
        }
    }
    void cancel(Timer& timer) { heap_.cancel(timer); }
    // No more firing; the timer handle is closed by the time the loop has
    // run once more.
    void close();

    // Monotonic microseconds, finer than uv_now's milliseconds: a delay is
    // measured from when the bytes were read, not from the loop's start.
    static std::uint64_t now_us() { return uv_hrtime() / 1000; }

private:
    static void on_timer(uv_timer_t* handle);
    void arm();

    uv_loop_t* loop_;
    uv_timer_t timer_{};
    TimerHeap heap_;
    std::uint64_t armed_for_ = 0;  // the deadline the libuv timer waits for; 0: stopped
    std::vector<Timer*> firing_;   // due at this tick (kept to reuse its memory)
};

// What the connections and the UDP sockets of one loop share.
struct FaultContext {
    FaultContext(uv_loop_t* loop, const FaultConfig& config)
        : configs{config}, plan(config.share, config.seed.value_or(0)), clock(loop) {}

    // The faults a connection accepted now draws: the latest reload's (none
    // at all after a reload that took them away).
    const FaultConfig& config() const { return configs.back(); }
    // The faults the UDP sockets started with, and keep.
    const FaultConfig& first_config() const { return configs.front(); }
    // A reload: connections accepted from now on draw from faults, the
    // draws started afresh from its seed.
    void replace(const FaultConfig& faults) {
        configs.push_back(faults);
        plan = FaultPlan(faults.share, faults.seed.value_or(0));
    }

    // A connection keeps the faults it drew (its shaper refers to them), so
    // the configs of earlier reloads stay: one per reload that changed them.
    std::deque<FaultConfig> configs;
    FaultPlan plan;
    FaultClock clock;
};

// The faults-on line, at every log level (a faulty echod must never pass
// for a healthy one), with the seed that replays it: at start, and at a
// reload that turns faults on or changes them.
void announce_faults(const FaultConfig& faults);

}  // namespace echod
