#include "echod/worker_stats.h"

#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <type_traits>

namespace echod {
namespace {

static_assert(std::is_trivially_copyable_v<WorkerReport>);
static_assert(sizeof(WorkerReport) <= PIPE_BUF, "a record must be written atomically");

// Counters add up across processes and over time; gauges only across the
// processes alive now.
void add_counters(Stats& sum, const Stats& s) {
    sum.accepted += s.accepted;
    sum.closed += s.closed;
    sum.refused += s.refused;
    sum.closed_idle += s.closed_idle;
    sum.accept_errors += s.accept_errors;
    sum.drain_cut_short += s.drain_cut_short;
    sum.bytes_in += s.bytes_in;
    sum.bytes_out += s.bytes_out;
    sum.backpressure_pauses += s.backpressure_pauses;
    sum.udp_in += s.udp_in;
    sum.udp_out += s.udp_out;
    sum.udp_dropped += s.udp_dropped;
    sum.fault_connections += s.fault_connections;
    sum.proxy_errors += s.proxy_errors;
    for (std::size_t i = 0; i < fault_kinds; ++i) {
        sum.faults[i] += s.faults[i];
    }
}

void add_gauges(Stats& sum, const Stats& s) {
    sum.connections += s.connections;
    sum.paused += s.paused;
    sum.rings_in_use += s.rings_in_use;
    sum.rings_pooled += s.rings_pooled;
    sum.ring_bytes = s.ring_bytes != 0 ? s.ring_bytes : sum.ring_bytes;  // the same size in every worker
    sum.rings_waiting += s.rings_waiting;
    sum.ring_budget += s.ring_budget;  // each worker has its own budget
}

}  // namespace

bool send_worker_report(int fd, const WorkerReport& report) {
    ssize_t n = 0;
    do {
        n = ::write(fd, &report, sizeof report);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(sizeof report);
}

void receive_worker_reports(int fd, std::vector<WorkerReport>& out) {
    for (;;) {
        WorkerReport report;
        ssize_t n = ::read(fd, &report, sizeof report);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n != static_cast<ssize_t>(sizeof report)) {
            return;  // empty (EAGAIN); records are written whole, so never a part
        }
        out.push_back(report);
    }
}

void WorkerTotals::retire(std::size_t worker) {
    add_counters(retired_, latest_[worker]);
    latest_[worker] = Stats{};
}

Stats WorkerTotals::total() const {
    Stats sum = retired_;
    for (const Stats& s : latest_) {
        add_counters(sum, s);
        add_gauges(sum, s);
    }
    return sum;
}

}  // namespace echod
