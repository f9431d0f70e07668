#include "echobench/results/result.h"

#include "common/parse.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace echobench {
namespace {

// Microseconds with one decimal, or null when nothing was measured.
std::string json_us(const BenchResult& r, std::uint64_t ns) {
    if (r.latency.count() == 0) {
        return "null";
    }
    return fmt::format("{:.1f}", static_cast<double>(ns) / 1000.0);
}

// {"min": ..., "max": ...} in microseconds, or null when h is empty.
std::string json_latency_object(const Histogram& h) {
    if (h.count() == 0) {
        return "null";
    }
    auto us = [](std::uint64_t ns) { return fmt::format("{:.1f}", static_cast<double>(ns) / 1000.0); };
    return fmt::format(R"({{"min": {}, "p50": {}, "p90": {}, "p99": {}, "p999": {}, "max": {}}})", us(h.min()),
                       us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)), us(h.percentile(99.9)),
                       us(h.max()));
}

// "min 9.1us  p50 ...  max 1.2ms", or "none measured".
std::string table_latency(const Histogram& h) {
    if (h.count() == 0) {
        return "none measured";
    }
    return fmt::format("min {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}", format_latency(h.min()),
                       format_latency(h.percentile(50)), format_latency(h.percentile(90)),
                       format_latency(h.percentile(99)), format_latency(h.percentile(99.9)), format_latency(h.max()));
}

// JSON has no NaN or infinity; a zero-length window gives 0, not either.
double finite(double x) {
    return std::isfinite(x) ? x : 0.0;
}

// One sample of "timeline": {"t": 3, "dt": 1, "msgs": 231012, "p99_us": 41.2, "connections": 50}.
std::string json_sample(const TimelineSample& s) {
    return fmt::format(
        R"({{"t": {:.0f}, "dt": {:.3f}, "msgs": {}, "p99_us": {}, "connections": {}}})", s.t_s, finite(s.dt_s), s.msgs,
        s.p99_ns ? fmt::format("{:.1f}", static_cast<double>(*s.p99_ns) / 1000.0) : "null", s.connections);
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace

void BenchErrors::merge(const BenchErrors& other) {
    connect += other.connect;
    broken += other.broken;
    mismatch += other.mismatch;
    timeout += other.timeout;
    for (auto [mine, theirs] :
         {std::pair{&connect_reason, &other.connect_reason}, std::pair{&broken_reason, &other.broken_reason},
          std::pair{&mismatch_reason, &other.mismatch_reason}, std::pair{&timeout_reason, &other.timeout_reason}}) {
        if (mine->empty()) {
            *mine = *theirs;
        }
    }
}

double BenchResult::msgs_per_sec() const {
    if (summed_msgs_per_sec) {
        return *summed_msgs_per_sec;
    }
    return duration_s > 0 ? static_cast<double>(messages) / duration_s : 0.0;
}

double BenchResult::connects_per_sec() const {
    if (summed_connects_per_sec) {
        return *summed_connects_per_sec;
    }
    return duration_s > 0 ? static_cast<double>(connects) / duration_s : 0.0;
}

std::string format_latency(std::uint64_t ns) {
    double us = static_cast<double>(ns) / 1000.0;
    if (us < 1000) {
        return fmt::format("{:.1f}us", us);
    }
    if (us < 1000 * 1000) {
        return fmt::format("{:.2f}ms", us / 1000);
    }
    return fmt::format("{:.2f}s", us / 1e6);
}

// "connects": ..., "connects_per_sec": ..., "connect_latency_us": ...,
// "messages_per_connection": ...: format_json's members for churn.
std::string json_churn(const BenchResult& r) {
    return fmt::format(
        R"("connects": {}, "connects_per_sec": {:.1f}, "connect_latency_us": {}, "messages_per_connection": {})",
        r.connects, finite(r.connects_per_sec()), json_latency_object(r.connect_latency), r.messages_per_connection);
}

std::string format_json(const BenchResult& r) {
    const Histogram& h = r.latency;
    std::string timeline;
    for (const TimelineSample& sample : r.timeline) {
        timeline += (timeline.empty() ? "" : ", ") + json_sample(sample);
    }
    std::string rate = "null";
    if (r.rate > 0) {
        double achieved = r.msgs_per_sec();
        rate = fmt::format(R"({{"target": {:.1f}, "achieved": {:.1f}, "shortfall_pct": {:.2f}}})", r.rate, achieved,
                           finite(std::max(0.0, (1.0 - achieved / r.rate) * 100.0)));
    }
    return fmt::format(
        R"({{"connections": {}, "size": {}, "pipeline": {}, "duration_s": {:.3f}, )"
        R"("messages": {}, "msgs_per_sec": {:.1f}, "bytes_per_sec": {:.1f}, )"
        R"("latency_us": {{"min": {}, "p50": {}, "p90": {}, "p99": {}, "p999": {}, "max": {}}}, )"
        R"("errors": {{"connect": {}, "broken": {}, "mismatch": {}, "timeout": {}}}, )"
        R"("threads": {}, "established": {}, "sent_bytes": {}, "verify": {}, "warmup_s": {:.3f}, "rate": {}, )"
        R"("target": {}, "interrupted": {}, "runs": {}, "version": {}, "started_at": {}, )"
        R"("phases": {{"warmup_start_s": {:.3f}, "window_start_s": {:.3f}, "window_end_s": {:.3f}}}, )"
        R"({}, )"
        R"("timeline": [{}]}})"
        "\n",
        r.connections, r.size, r.pipeline, finite(r.duration_s), r.messages, finite(r.msgs_per_sec()),
        finite(r.bytes_per_sec()), json_us(r, h.min()), json_us(r, h.percentile(50)), json_us(r, h.percentile(90)),
        json_us(r, h.percentile(99)), json_us(r, h.percentile(99.9)), json_us(r, h.max()), r.errors.connect,
        r.errors.broken, r.errors.mismatch, r.errors.timeout, r.threads, r.established,
        r.sent_bytes ? fmt::to_string(*r.sent_bytes) : "null", r.verify, r.warmup_s, rate, json_string(r.target),
        r.interrupted, r.runs, json_string(r.version), json_string(r.started_at), finite(r.warmup_start_s),
        finite(r.window_start_s), finite(r.window_end_s), json_churn(r), timeline);
}

std::string format_table(const BenchResult& r) {
    const Histogram& h = r.latency;
    std::string out = r.runs > 1 ? fmt::format(
                                       "echobench: {} runs merged (concurrent: msgs/s summed, window the "
                                       "longest, percentiles from the merged histograms)\n",
                                       r.runs)
                                 : std::string();
    out += fmt::format("echobench {}: {} connections ({} established, {} thread{}), {} messages, pipeline {}, {}\n",
                       r.target, r.connections, r.established, r.threads, r.threads == 1 ? "" : "s",
                       common::format_size(r.size), r.pipeline,
                       r.rate > 0 ? fmt::format("open loop at {:.0f} msgs/s", r.rate) : std::string("closed loop"));
    out += fmt::format("  window     {:.3f} s after {:.3f} s warm-up, verify {}{}\n", r.duration_s, r.warmup_s,
                       r.verify ? "on" : "off", r.interrupted ? " (interrupted)" : "");
    out += fmt::format("  messages   {}  {:.1f} msgs/s  {:.2f} MiB/s\n", r.messages, r.msgs_per_sec(),
                       r.bytes_per_sec() / (1024.0 * 1024.0));
    if (r.rate > 0) {
        double achieved = r.msgs_per_sec();
        out += fmt::format("  rate       target {:.1f}/s, achieved {:.1f}/s ({:.2f}% short)\n", r.rate, achieved,
                           std::max(0.0, (1.0 - achieved / r.rate) * 100.0));
    }
    if (h.count() == 0) {
        out += "  latency    none measured\n";
    } else {
        out +=
            fmt::format("  latency    min {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n", format_latency(h.min()),
                        format_latency(h.percentile(50)), format_latency(h.percentile(90)),
                        format_latency(h.percentile(99)), format_latency(h.percentile(99.9)), format_latency(h.max()));
    }
    if (r.messages_per_connection > 0 || r.connects > 0) {
        out += fmt::format("  connects   {}  {:.1f} connects/s{}\n", r.connects, r.connects_per_sec(),
                           r.messages_per_connection > 0
                               ? fmt::format(", {} message(s) per connection", r.messages_per_connection)
                               : std::string());
        out += fmt::format("  connect    {}\n", table_latency(r.connect_latency));
    }
    out += fmt::format("  errors     connect {}  broken {}  mismatch {}  timeout {}\n", r.errors.connect,
                       r.errors.broken, r.errors.mismatch, r.errors.timeout);
    return out;
}

int exit_status(const BenchResult& r) {
    return r.errors.total() > 0 || r.messages == 0 ? 1 : 0;
}

std::vector<FailureLine> failure_lines(const BenchResult& r) {
    std::vector<FailureLine> out;
    auto line = [&out](std::uint64_t n, std::string_view what, const std::string& reason, bool mismatch) {
        if (n > 0) {
            out.push_back(
                {mismatch, fmt::format("{} {}{}", n, what, reason.empty() ? "" : " (first: " + reason + ")")});
        }
    };
    line(r.errors.connect, "connection(s) failed to connect", r.errors.connect_reason, false);
    line(r.errors.broken, "connection(s) broke", r.errors.broken_reason, false);
    line(r.errors.mismatch, "message(s) echoed wrong", r.errors.mismatch_reason, true);
    line(r.errors.timeout, "connection(s) timed out waiting for echoes", r.errors.timeout_reason, false);
    if (r.messages == 0) {
        out.push_back({false, "nothing was echoed during the measured window"});
    }
    return out;
}

std::string json_latency_us(const Histogram& h) {
    auto us = [&h](std::uint64_t ns) {
        return h.count() == 0 ? std::string("null") : fmt::format("{:.1f}", static_cast<double>(ns) / 1000.0);
    };
    return fmt::format(R"({{"min": {}, "p50": {}, "p90": {}, "p99": {}, "p999": {}, "max": {}}})", us(h.min()),
                       us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)), us(h.percentile(99.9)),
                       us(h.max()));
}

std::string json_quoted(std::string_view text) {
    return json_string(text);
}

std::string failure_summary(const BenchResult& r) {
    std::string out;
    for (const FailureLine& line : failure_lines(r)) {
        out += fmt::format("echobench: {}: {}\n", r.target, line.text);
    }
    return out;
}

}  // namespace echobench
