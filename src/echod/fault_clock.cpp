#include "echod/fault_clock.h"

#include "common/log.h"
#include "common/uv_owner.h"

namespace echod {

FaultClock::FaultClock(uv_loop_t* loop) : loop_(loop) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
}

void FaultClock::schedule(Timer& timer, std::uint64_t due_us) {
    heap_.schedule(timer, due_us);
    arm();
}

void FaultClock::close() {
    auto* handle = reinterpret_cast<uv_handle_t*>(&timer_);
    if (!uv_is_closing(handle)) {
        uv_close(handle, nullptr);  // owned by the FaultClock, which outlives the loop's run
    }
}

void FaultClock::arm() {
    TimerHeap::Node* first = heap_.top();
    if (first == nullptr || uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) {
        return;  // an early tick with nothing due costs one callback
    }
    if (armed_for_ != 0 && armed_for_ <= first->due) {
        return;  // already waiting for this deadline or an earlier one
    }
    // libuv counts in whole milliseconds from its cached loop time: round
    // up, and on_timer looks at the real clock again.
    uv_update_time(loop_);
    std::uint64_t now = now_us();
    std::uint64_t wait_ms = first->due > now ? (first->due - now + 999) / 1000 : 0;
    armed_for_ = first->due;
    uv_timer_start(&timer_, on_timer, wait_ms, 0);
}

void FaultClock::on_timer(uv_timer_t* handle) {
    FaultClock* self = common::owner_of<FaultClock>(handle);
    self->armed_for_ = 0;
    std::uint64_t now = now_us();
    // Take everything due off the heap first: a timer that schedules itself
    // again for now fires at the next tick, not in a loop here.
    self->firing_.clear();
    while (self->heap_.top() != nullptr && self->heap_.top()->due <= now) {
        self->firing_.push_back(static_cast<Timer*>(self->heap_.pop()));
    }
    for (Timer* timer : self->firing_) {
        timer->fire(timer->owner);
    }
    self->arm();
}

void announce_faults(const FaultConfig& faults) {
    if (faults.any()) {
        common::write_log_line("warn", "faults on: {}", fmt::make_format_args(describe_faults(faults)));
    }
}

}  // namespace echod
