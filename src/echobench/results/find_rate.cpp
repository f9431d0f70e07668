#include "echobench/results/find_rate.h"

#include "common/parse.h"

#include <fmt/format.h>

#include <cmath>

namespace echobench {
namespace {

// JSON has no NaN or infinity.
double finite(double x) {
    return std::isfinite(x) ? x : 0.0;
}

// The SLO's percentile of a step, in ns (the step echoed something).
std::uint64_t slo_latency_ns(const Slo& slo, const BenchResult& r) {
    return r.latency.percentile(slo.quantile);
}

}  // namespace

std::string format_slo(const Slo& slo) {
    return fmt::format("{} <= {}", slo.percentile, format_latency(slo.us * 1000));
}

std::string step_failure(const Slo& slo, double rate, const BenchResult& r) {
    std::string out;
    auto add = [&out](const std::string& reason) { out += (out.empty() ? "" : ", ") + reason; };
    if (r.messages == 0 || r.latency.count() == 0) {
        add("nothing echoed");
    } else if (slo_latency_ns(slo, r) > slo.us * 1000) {
        add(fmt::format("{} {} over {}", slo.percentile, format_latency(slo_latency_ns(slo, r)),
                        format_latency(slo.us * 1000)));
    }
    if (r.messages > 0 && r.msgs_per_sec() < rate * min_achieved_share) {
        add(fmt::format("achieved {:.1f}% of the rate", r.msgs_per_sec() / rate * 100.0));
    }
    if (r.errors.total() > 0) {
        add(fmt::format("{} error{}", r.errors.total(), r.errors.total() == 1 ? "" : "s"));
    }
    if (r.interrupted) {
        add("interrupted");
    }
    return out;
}

std::string format_find_rate_heading(const FindRateResult& s) {
    return fmt::format(
        "echobench {}: find-rate, SLO {}, {} connections ({} thread{}), {} messages, pipeline {}\n"
        "  steps of {:.3f} s after {:.3f} s warm-up, each on fresh connections\n"
        "  step         rate     achieved        p50        p90        p99      p99.9  errors  result\n",
        s.target, format_slo(s.slo), s.connections, s.threads, s.threads == 1 ? "" : "s", common::format_size(s.size),
        s.pipeline, s.step_duration_s, s.warmup_s);
}

std::string format_find_rate_step(const FindRateResult& s, std::size_t number) {
    const FindRateStep& step = s.steps.at(number - 1);
    const BenchResult& r = step.result;
    auto latency = [&r](double q) {
        return r.latency.count() == 0 ? std::string("-") : format_latency(r.latency.percentile(q));
    };
    std::string verdict = step.pass ? "pass" : "FAIL";
    if (std::string why = step_failure(s.slo, step.rate, r); !why.empty()) {
        verdict += " (" + why + ")";
    }
    return fmt::format("  {:>4} {:>12.1f} {:>12.1f} {:>10} {:>10} {:>10} {:>10} {:>7}  {}\n", number, step.rate,
                       r.msgs_per_sec(), latency(50), latency(90), latency(99), latency(99.9), r.errors.total(),
                       verdict);
}

std::string format_find_rate_summary(const FindRateResult& s) {
    if (!s.max_rate) {
        if (s.steps.empty()) {
            return "  max rate   none: no step ran\n";
        }
        const FindRateStep& first = s.steps.front();
        return fmt::format("  max rate   none: the first step, {:.1f} msgs/s, did not pass ({}); try a lower --rate\n",
                           first.rate, step_failure(s.slo, first.rate, first.result));
    }
    std::optional<double> lowest_failing;
    for (const FindRateStep& step : s.steps) {
        if (!step.pass && step.rate > *s.max_rate && (!lowest_failing || step.rate < *lowest_failing)) {
            lowest_failing = step.rate;
        }
    }
    return fmt::format("  max rate   {:.1f} msgs/s meets {}{} (search ended: {})\n", *s.max_rate, format_slo(s.slo),
                       lowest_failing ? fmt::format("; lowest failing {:.1f} msgs/s", *lowest_failing) : "", s.stop);
}

std::string format_find_rate_table(const FindRateResult& s) {
    std::string out = format_find_rate_heading(s);
    for (std::size_t i = 1; i <= s.steps.size(); ++i) {
        out += format_find_rate_step(s, i);
    }
    return out + format_find_rate_summary(s);
}

// A step's rate and max_rate are written exactly (the shortest text that
// reads back as the same double: 968.75, not 968.8), so that the bisection
// can be followed, and checked, from the JSON alone.
std::string format_find_rate_json(const FindRateResult& s) {
    std::string steps;
    for (const FindRateStep& step : s.steps) {
        const BenchResult& r = step.result;
        steps += fmt::format(
            R"({}{{"rate": {}, "achieved": {:.1f}, "latency_us": {}, "pass": {}, "messages": {}, )"
            R"("duration_s": {:.3f}, "errors": {{"connect": {}, "broken": {}, "mismatch": {}, "timeout": {}}}}})",
            steps.empty() ? "" : ", ", step.rate, finite(r.msgs_per_sec()), json_latency_us(r.latency), step.pass,
            r.messages, finite(r.duration_s), r.errors.connect, r.errors.broken, r.errors.mismatch, r.errors.timeout);
    }
    return fmt::format(R"({{"slo": {{"percentile": {}, "us": {}}}, "max_rate": {}, "steps": [{}], "stop": {}, )"
                       R"("target": {}, "connections": {}, "threads": {}, "size": {}, "pipeline": {}, )"
                       R"("warmup_s": {:.3f}, "step_duration_s": {:.3f}, "version": {}, "started_at": {}}})"
                       "\n",
                       json_quoted(s.slo.percentile), s.slo.us,
                       s.max_rate ? fmt::format("{}", *s.max_rate) : std::string("null"), steps, json_quoted(s.stop),
                       json_quoted(s.target), s.connections, s.threads, s.size, s.pipeline, s.warmup_s,
                       s.step_duration_s, json_quoted(s.version), json_quoted(s.started_at));
}

int exit_status(const FindRateResult& s) {
    return s.max_rate ? 0 : 1;
}

}  // namespace echobench
