#include "echod/stats.h"

#include "common/parse.h"

#include <fmt/format.h>

#include <iterator>

namespace echod {

std::string format_stats_line(const Stats& now, const Stats& before, double seconds) {
    std::string line = fmt::format(
        "stats: {} connections ({} paused), {} rings in use, {} pooled; {} accepted, {} closed, {} refused, "
        "{} closed idle; {} bytes in, {} bytes out",
        now.connections, now.paused, now.rings_in_use, now.rings_pooled, now.accepted, now.closed, now.refused,
        now.closed_idle, now.bytes_in, now.bytes_out);
    // The budget always; the queue's length with it (0 while rings are to be had).
    line +=
        fmt::format("; ring budget {}, {} waiting for a ring", common::format_size(now.ring_budget), now.rings_waiting);
    if (now.udp_in != 0) {
        line += fmt::format("; udp {} in, {} out, {} dropped", now.udp_in, now.udp_out, now.udp_dropped);
    }
    if (now.proxy_errors != 0) {
        line += fmt::format("; {} PROXY header errors", now.proxy_errors);
    }
    bool faulty = now.fault_connections != 0;
    for (std::uint64_t count : now.faults) {
        faulty = faulty || count != 0;
    }
    if (faulty) {
        line += fmt::format("; faults: {} connections", now.fault_connections);
        for (std::size_t i = 0; i < fault_kinds; ++i) {
            line += fmt::format(", {} {}", to_string(static_cast<Fault>(i)), now.faults[i]);
        }
    }
    if (seconds > 0) {
        auto rate = [seconds](std::uint64_t a, std::uint64_t b) { return static_cast<double>(a - b) / seconds; };
        line += fmt::format("; last {:.1f} s: {:.1f} accepts/s, {:.0f} B/s in, {:.0f} B/s out", seconds,
                            rate(now.accepted, before.accepted), rate(now.bytes_in, before.bytes_in),
                            rate(now.bytes_out, before.bytes_out));
    }
    return line;
}

std::string format_prometheus(const Stats& s) {
    fmt::memory_buffer out;
    auto metric = [&out](const char* name, const char* type, const char* help, std::uint64_t value) {
        fmt::format_to(std::back_inserter(out), "# HELP echod_{0} {1}\n# TYPE echod_{0} {2}\nechod_{0} {3}\n", name,
                       help, type, value);
    };
    metric("connections", "gauge", "Open connections.", s.connections);
    metric("connections_paused", "gauge", "Connections not reading because their ring is full.", s.paused);
    metric("rings_in_use", "gauge", "Ring buffers lent to connections.", s.rings_in_use);
    metric("rings_pooled", "gauge", "Spare ring buffers kept for reuse.", s.rings_pooled);
    metric("ring_size_bytes", "gauge", "Capacity of each ring buffer.", s.ring_bytes);
    metric("buffer_memory_budget_bytes", "gauge", "Ring memory lent at once at most (--max-buffer-memory).",
           s.ring_budget);
    metric("connections_waiting_for_ring", "gauge", "Connections not reading until a ring is returned.",
           s.rings_waiting);
    metric("connections_accepted_total", "counter", "Connections accepted and served.", s.accepted);
    metric("connections_closed_total", "counter", "Connections closed.", s.closed);
    metric("connections_refused_total", "counter", "Connections closed at once over --max-connections.", s.refused);
    metric("connections_idle_closed_total", "counter", "Connections closed by --idle-timeout.", s.closed_idle);
    metric("accept_errors_total", "counter", "Accepts that failed.", s.accept_errors);
    metric("backpressure_pauses_total", "counter", "Times a full ring stopped reading from a peer.",
           s.backpressure_pauses);
    metric("received_bytes_total", "counter", "Bytes read from peers.", s.bytes_in);
    metric("sent_bytes_total", "counter", "Bytes echoed back to peers.", s.bytes_out);
    metric("udp_received_datagrams_total", "counter", "UDP datagrams received.", s.udp_in);
    metric("udp_sent_datagrams_total", "counter", "UDP datagrams echoed.", s.udp_out);
    metric("udp_dropped_datagrams_total", "counter",
           "UDP datagrams not echoed (socket full, truncated, or over the delay queue).", s.udp_dropped);
    metric("proxy_errors_total", "counter",
           "PROXY protocol headers malformed, too long or not complete in time (--proxy-protocol): connections "
           "closed unechoed.",
           s.proxy_errors);
    metric("fault_connections_total", "counter", "Connections chosen to misbehave by --fault.", s.fault_connections);
    fmt::format_to(std::back_inserter(out),
                   "# HELP echod_faults_total Faults applied on purpose (--fault): writes cut by slice, waits of delay "
                   "and rate, connections ended by close, reset and stall, datagrams dropped.\n"
                   "# TYPE echod_faults_total counter\n");
    for (std::size_t i = 0; i < fault_kinds; ++i) {
        fmt::format_to(std::back_inserter(out), "echod_faults_total{{fault=\"{}\"}} {}\n",
                       to_string(static_cast<Fault>(i)), s.faults[i]);
    }
    return fmt::to_string(out);
}

}  // namespace echod
