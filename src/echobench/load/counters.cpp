#include "echobench/load/counters.h"

#include <algorithm>

namespace echobench {
namespace {

constexpr std::uint64_t ms = 1000000;  // in ns
constexpr std::uint64_t second_ns = 1000 * ms;
constexpr std::uint64_t snapshot_ns = 250 * ms;  // the progress line's latency, this fresh

}  // namespace

LoadCounters::LoadCounters(RunControl& control, std::uint64_t messages_total)
    : control_(control), messages_total_(messages_total) {
    closed_intervals_.reserve(8);  // the controller takes them every tick
}

void LoadCounters::start(std::uint64_t now) {
    last_snapshot_ns_ = now;
    interval_end_ns_ = control_.run_start_ns + second_ns;
}

void LoadCounters::prepare(std::uint64_t now) {
    roll_timeline(now);  // a second without echoes is a sample too
    if (!spare_interval_) {
        // The next second's interval (a 30 KiB histogram) is made here, so
        // that the echo which closes a second allocates nothing.
        spare_interval_.emplace();
    }
    if (now - last_snapshot_ns_ >= snapshot_ns) {
        last_snapshot_ns_ = now;
        std::lock_guard lock(snapshot_mutex_);
        snapshot_ = histogram_;
        snapshot_.merge(interval_window_latency_);  // this second's, not yet in histogram_
    }
}

void LoadCounters::begin_drain() {
    draining_ = true;
    open_at_drain_ = open_.load(std::memory_order_relaxed);
}

void LoadCounters::finish(std::uint64_t now) {
    roll_timeline(now);
    close_interval();  // the last, partial one
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = histogram_;
}

std::uint64_t LoadCounters::claim_messages(std::uint64_t count) {
    // Past the total the counter only grows: every later claim gets nothing.
    const std::uint64_t before = control_.messages_claimed.fetch_add(count, std::memory_order_relaxed);
    return before >= messages_total_ ? 0 : std::min(count, messages_total_ - before);
}

LoadCounters::EchoTime LoadCounters::echo_time(std::uint64_t now_ns) {
    if (now_ns >= interval_end_ns_) {
        roll_timeline(now_ns);
    }
    const std::uint64_t end = control_.window_end_ns.load(std::memory_order_relaxed);
    return {now_ns >= control_.window_start_ns.load(std::memory_order_relaxed) && now_ns < end, now_ns < end};
}

void LoadCounters::count_echo(EchoTime when, std::uint64_t latency_ns) {
    // Single writer: a plain store, no read-modify-write on a shared line.
    echoed_.store(++echoed_local_, std::memory_order_relaxed);
    if (!when.recorded) {
        return;
    }
    // One histogram record per echo, timeline included: the window's echoes
    // join histogram_ when their second closes (close_interval).
    ++interval_.msgs;
    if (when.measured) {
        interval_window_latency_.record(latency_ns);
        measured_.store(++measured_local_, std::memory_order_relaxed);
    } else {
        interval_.latency.record(latency_ns);
    }
}

void LoadCounters::count_connected(std::uint64_t now_ns, std::uint64_t latency_ns, bool replacement) {
    --connecting_;
    if (!replacement) {
        established_.fetch_add(1, std::memory_order_relaxed);
        settled_.fetch_add(1, std::memory_order_relaxed);
        live_.fetch_add(1, std::memory_order_relaxed);
    }
    open_.fetch_add(1, std::memory_order_relaxed);
    if (now_ns >= control_.window_start_ns.load(std::memory_order_relaxed) &&
        now_ns < control_.window_end_ns.load(std::memory_order_relaxed)) {
        ++connects_;
        connect_latency_.record(latency_ns);
    }
}

void LoadCounters::count_connect_failed(const std::string& reason, bool replacement) {
    --connecting_;
    ++errors_.connect;
    if (errors_.connect_reason.empty()) {
        errors_.connect_reason = reason;
    }
    if (!replacement) {
        settled_.fetch_add(1, std::memory_order_relaxed);
    }
}

void LoadCounters::count_broken(const std::string& reason) {
    ++errors_.broken;
    if (errors_.broken_reason.empty()) {
        errors_.broken_reason = reason;
    }
}

void LoadCounters::count_mismatch(const std::string& reason) {
    ++errors_.mismatch;
    if (errors_.mismatch_reason.empty()) {
        errors_.mismatch_reason = reason;
    }
}

void LoadCounters::count_timeout(const std::string& reason) {
    ++errors_.timeout;
    if (errors_.timeout_reason.empty()) {
        errors_.timeout_reason = reason;
    }
}

void LoadCounters::count_closed(bool was_open) {
    if (was_open) {
        open_.fetch_sub(1, std::memory_order_relaxed);
    }
}

void LoadCounters::merge_snapshot_into(Histogram& out) {
    std::lock_guard lock(snapshot_mutex_);
    out.merge(snapshot_);
}

void LoadCounters::roll_timeline(std::uint64_t now_ns) {
    while (now_ns >= interval_end_ns_) {
        close_interval();
        interval_end_ns_ += second_ns;
    }
}

void LoadCounters::close_interval() {
    // After the window the connections close one by one; the timeline ends
    // with the window, so it shows them as they were when it ended.
    interval_.connections = draining_ ? open_at_drain_ : open_.load(std::memory_order_relaxed);
    histogram_.merge(interval_window_latency_);
    interval_.latency.merge(interval_window_latency_);
    interval_window_latency_.reset();
    if (!spare_interval_) {
        spare_interval_.emplace();  // seconds went by faster than ticks came
    }
    spare_interval_->index = interval_.index + 1;
    std::swap(interval_, *spare_interval_);
    {
        // closed_intervals_ keeps its capacity (take_intervals clears it):
        // no allocation here once the run is under way.
        std::lock_guard lock(timeline_mutex_);
        closed_intervals_.push_back(std::move(*spare_interval_));
    }
    spare_interval_.reset();
}

void LoadCounters::take_intervals(std::vector<TimelineInterval>& out) {
    std::lock_guard lock(timeline_mutex_);
    for (TimelineInterval& interval : closed_intervals_) {
        out.push_back(std::move(interval));
    }
    closed_intervals_.clear();
}

}  // namespace echobench
