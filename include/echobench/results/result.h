// What a load run measured, and how it is shown: the table, the JSON object
// of the contract, and the exit status. Pure, so the format is unit-tested
// apart from any network.
#pragma once

#include "echobench/results/histogram.h"
#include "echobench/results/timeline.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace echobench {

// Failures by kind. A connection counts once, under the first that hit it.
struct BenchErrors {
    std::uint64_t connect = 0;   // refused, unreachable, timed out while connecting
    std::uint64_t broken = 0;    // reset, or closed by the server while in use
    std::uint64_t mismatch = 0;  // messages whose echo differed (or bytes never sent)
    std::uint64_t timeout = 0;   // messages out and no byte back for --timeout

    // The first reason seen for each kind, e.g. "connection refused".
    std::string connect_reason, broken_reason, mismatch_reason, timeout_reason;

    std::uint64_t total() const { return connect + broken + mismatch + timeout; }
    void merge(const BenchErrors& other);
};

struct BenchResult {
    // What was asked for.
    std::string target;  // "127.0.0.1:7007" or "[::1]:7007"
    std::uint32_t connections = 0;
    std::uint32_t threads = 0;
    std::uint64_t size = 0;
    std::uint32_t pipeline = 0;
    double rate = 0;  // open loop target, messages/s; 0: closed loop
    double warmup_s = 0;
    bool verify = true;
    std::uint64_t messages_per_connection = 0;  // churn; 0: connections kept

    // What happened.
    std::uint32_t established = 0;  // connections that ever connected
    double duration_s = 0;          // the measured window
    std::uint64_t messages = 0;     // echoed in full and correctly within the window
    // Bytes whose write completed over the whole run, warm-up and drain
    // included: what the server was given to read (a server's own received
    // bytes counter can be checked against it). Files written before it
    // existed have none, and a merge with one of them has none.
    std::optional<std::uint64_t> sent_bytes = 0;
    Histogram latency;  // ns, one value per counted message
    BenchErrors errors;
    bool interrupted = false;    // Ctrl-C ended the window early
    std::uint64_t connects = 0;  // connections established within the window (churn's new ones)
    Histogram connect_latency;   // ns, theirs: from the connect call to established

    // Over time, on the run's clock (seconds since echobench started
    // connecting): when the warm-up traffic began, the measured window, and
    // one sample per second up to the window's end.
    double warmup_start_s = 0;
    double window_start_s = 0;
    double window_end_s = 0;
    std::vector<TimelineSample> timeline;
    std::string started_at;  // the run's start, UTC, ISO 8601 ("2026-11-30T01:27:32Z")
    std::string version;     // echobench's

    // --merge: how many runs this result combines (1 for a run of its own),
    // and the sum of their rates, which msgs_per_sec() then reports: the
    // runs are concurrent, so their rates add up (see bench_merge.h).
    std::uint32_t runs = 1;
    std::optional<double> summed_msgs_per_sec;
    std::optional<double> summed_connects_per_sec;  // the same for connects_per_sec()

    double msgs_per_sec() const;
    double connects_per_sec() const;
    double bytes_per_sec() const { return msgs_per_sec() * static_cast<double>(size); }
};

// One JSON object and a newline: the contract's fields, then "threads",
// "established", "errors.timeout", "verify", "warmup_s", "rate", "target",
// "interrupted", "runs", "version", "started_at", "phases", "connects",
// "connects_per_sec", "connect_latency_us" (null when none),
// "messages_per_connection" and "timeline".
std::string format_json(const BenchResult& result);

// The human-readable report.
std::string format_table(const BenchResult& result);

// 0 clean; 1 on any error or when nothing was echoed.
int exit_status(const BenchResult& result);

// What makes a status of 1, one line per kind, for people: "3 message(s)
// echoed wrong (first: ...)". Empty for a clean run.
struct FailureLine {
    bool mismatch = false;  // an echo differed: the run measured a broken server
    std::string text;
};
std::vector<FailureLine> failure_lines(const BenchResult& result);

// The same on stderr: each "echobench: TARGET: ...\n" ("" for a clean run).
std::string failure_summary(const BenchResult& result);

// "9.1us", "12.35ms", "1.50s": a latency in ns, for people.
std::string format_latency(std::uint64_t ns);

// Pieces of format_json for the other documents (--find-rate's): the
// latency object {"min": ..., "p50": ..., "p90": ..., "p99": ..., "p999":
// ..., "max": ...} in microseconds (each null when h is empty), and a
// quoted, escaped JSON string.
std::string json_latency_us(const Histogram& h);
std::string json_quoted(std::string_view text);

}  // namespace echobench
