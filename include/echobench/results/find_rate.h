// What --find-rate measured, and how it is shown: a step's verdict against
// the SLO, the table (printed a line at a time as the steps finish) and the
// JSON object of the contract. Pure, like result.h.
#pragma once

#include "echobench/results/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace echobench {

// --slo PCT=MICROSECONDS: a latency percentile and its bound, inclusive.
struct Slo {
    std::string percentile = "p99";  // "p50", "p90", "p99" or "p999", as --json names it
    double quantile = 99;            // the same in percent, for Histogram::percentile (p999: 99.9)
    std::uint64_t us = 1000;         // the bound, in microseconds
};

// A step passes when it achieved at least this share of its rate.
inline constexpr double min_achieved_share = 0.99;

struct FindRateStep {
    double rate = 0;     // the step's target, msgs/s
    BenchResult result;  // its run: an open-loop load at rate
    bool pass = false;
};

struct FindRateResult {
    // What was asked for (the steps' results hold the rest).
    Slo slo;
    std::string target;  // "127.0.0.1:7007"
    std::uint32_t connections = 0;
    std::uint32_t threads = 0;
    std::uint64_t size = 0;
    std::uint32_t pipeline = 0;
    double warmup_s = 0;
    double step_duration_s = 0;
    std::string version;     // echobench's
    std::string started_at;  // the first step's start, UTC, ISO 8601

    // What happened.
    std::vector<FindRateStep> steps;  // in the order they ran
    std::optional<double> max_rate;   // the highest passing rate; none when no step passed
    std::string stop;                 // why the search ended: stop_name(), or "interrupted"
};

// Why a step at rate fails the SLO ("p99 2.10ms over 1.00ms", "achieved
// 97.2% of the rate", "3 errors", "nothing echoed"; several joined by
// ", "), or "" when it passes.
std::string step_failure(const Slo& slo, double rate, const BenchResult& result);

// The SLO for people: "p99 <= 1.00ms".
std::string format_slo(const Slo& slo);

// The table: the heading (before the first step), one line per step (as
// each ends; number counts from 1), and the summary (after the last).
std::string format_find_rate_heading(const FindRateResult& search);
std::string format_find_rate_step(const FindRateResult& search, std::size_t number);
std::string format_find_rate_summary(const FindRateResult& search);
// All three, as one.
std::string format_find_rate_table(const FindRateResult& search);

// One JSON object and a newline: "slo", "max_rate" (null when no step
// passed) and "steps" (each "rate", "achieved", "latency_us", "pass", then
// "messages", "duration_s", "errors"), then "stop", "target",
// "connections", "threads", "size", "pipeline", "warmup_s",
// "step_duration_s", "version" and "started_at".
std::string format_find_rate_json(const FindRateResult& search);

// 0 when a rate passed, else 1.
int exit_status(const FindRateResult& search);

}  // namespace echobench
