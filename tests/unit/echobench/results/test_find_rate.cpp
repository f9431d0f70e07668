// --find-rate's results: a step's verdict, the table line by line, and the
// JSON object of the contract.
#include "echobench/results/find_rate.h"

#include "doctest_include.h"
#include "echobench/results/json.h"

#include <nlohmann/json.hpp>

#include <string>

using echobench::BenchResult;
using echobench::FindRateResult;
using echobench::FindRateStep;
using echobench::Slo;

namespace {

// A step at rate that echoed achieved msgs/s for 1 s, each after latency_us.
FindRateStep step_of(double rate, std::uint64_t achieved, std::uint64_t latency_us, bool pass) {
    FindRateStep step;
    step.rate = rate;
    step.pass = pass;
    BenchResult& r = step.result;
    r.target = "127.0.0.1:7007";
    r.rate = rate;
    r.duration_s = 1;
    r.messages = achieved;
    for (std::uint64_t i = 0; i < achieved; ++i) {
        r.latency.record(latency_us * 1000);
    }
    return step;
}

FindRateResult search_of(std::initializer_list<FindRateStep> steps) {
    FindRateResult s;
    s.slo = {"p99", 99, 1000};
    s.target = "127.0.0.1:7007";
    s.connections = 50;
    s.threads = 1;
    s.size = 64;
    s.pipeline = 1;
    s.warmup_s = 1;
    s.step_duration_s = 5;
    s.version = "0.1.0";
    s.started_at = "2026-12-01T18:00:00Z";
    s.steps = steps;
    return s;
}

nlohmann::json parsed(const std::string& text) {
    nlohmann::json doc;
    INFO(text);
    REQUIRE(echobench::parse_json(text, doc).empty());
    return doc;
}

}  // namespace

TEST_CASE("a step passes at or under the bound, at 99% of its rate, with nothing failed") {
    const Slo slo{"p99", 99, 1000};
    CHECK(echobench::step_failure(slo, 1000, step_of(1000, 1000, 1000, true).result).empty());  // at the bound
    CHECK(echobench::step_failure(slo, 1000, step_of(1000, 990, 500, true).result).empty());    // 99% exactly
    CHECK(echobench::step_failure(slo, 1000, step_of(1000, 989, 500, false).result) == "achieved 98.9% of the rate");
    CHECK(echobench::step_failure(slo, 1000, step_of(1000, 1000, 2000, false).result) == "p99 2.00ms over 1.00ms");
    CHECK(echobench::step_failure(slo, 1000, step_of(1000, 0, 0, false).result) == "nothing echoed");
    BenchResult errors = step_of(1000, 1000, 2000, false).result;
    errors.errors.timeout = 2;
    CHECK(echobench::step_failure(slo, 1000, errors) == "p99 2.00ms over 1.00ms, 2 errors");
    SUBCASE("the SLO's own percentile counts, not p99") {
        // 98% of the echoes at 10 us, 2% at 5 ms: p50 and p90 pass 1 ms, p99 does not.
        BenchResult r = step_of(1000, 980, 10, true).result;
        for (int i = 0; i < 20; ++i) {
            r.latency.record(5000000);
        }
        r.messages = 1000;
        CHECK(echobench::step_failure({"p90", 90, 1000}, 1000, r).empty());
        CHECK_FALSE(echobench::step_failure({"p99", 99, 1000}, 1000, r).empty());
        CHECK_FALSE(echobench::step_failure({"p999", 99.9, 1000}, 1000, r).empty());
    }
}

TEST_CASE("JSON: slo, max_rate, steps") {
    SUBCASE("a rate found") {
        FindRateResult s = search_of({step_of(1000, 1000, 100, true), step_of(2000, 1500, 3000, false),
                                      step_of(1500, 1500, 200, true), step_of(1750, 1700, 900, false)});
        s.max_rate = 1500;
        s.stop = "converged";
        const std::string text = echobench::format_find_rate_json(s);
        CHECK(text.starts_with(R"({"slo": {"percentile": "p99", "us": 1000}, "max_rate": 1500, "steps": [)"
                               R"({"rate": 1000, "achieved": 1000.0, "latency_us": {"min": 100.0, "p50": 100.0, )"
                               R"("p90": 100.0, "p99": 100.0, "p999": 100.0, "max": 100.0}, "pass": true, )"));
        CHECK(text.ends_with("}\n"));
        nlohmann::json doc = parsed(text);
        REQUIRE(doc["steps"].size() == 4);
        CHECK(doc["steps"][1]["pass"] == false);
        CHECK(doc["steps"][1]["achieved"] == 1500.0);
        CHECK(doc["steps"][3]["latency_us"]["p99"] == 900.0);
        // Rates exactly, as the bisection made them: 968.75, not 968.8.
        s.steps[3].rate = 968.75;
        CHECK(parsed(echobench::format_find_rate_json(s))["steps"][3]["rate"] == 968.75);
        CHECK(doc["stop"] == "converged");
        CHECK(doc["target"] == "127.0.0.1:7007");
        CHECK(doc["step_duration_s"] == 5.0);
        CHECK(doc["steps"][0]["errors"]["mismatch"] == 0);
        CHECK(echobench::exit_status(s) == 0);
    }
    SUBCASE("the first step failed: max_rate null, exit 1") {
        FindRateResult s = search_of({step_of(1000, 1000, 2000, false)});
        s.stop = "first_failed";
        nlohmann::json doc = parsed(echobench::format_find_rate_json(s));
        CHECK(doc["max_rate"].is_null());
        CHECK(doc["steps"].size() == 1);
        CHECK(echobench::exit_status(s) == 1);
    }
    SUBCASE("a step that echoed nothing: null latencies") {
        FindRateResult s = search_of({step_of(1000, 0, 0, false)});
        s.slo = {"p999", 99.9, 250};
        nlohmann::json doc = parsed(echobench::format_find_rate_json(s));
        CHECK(doc["slo"] == nlohmann::json::parse(R"({"percentile": "p999", "us": 250})"));
        CHECK(doc["steps"][0]["latency_us"]["p50"].is_null());
        CHECK(doc["steps"][0]["achieved"] == 0.0);
    }
}

TEST_CASE("table: a heading, one line per step, a summary") {
    FindRateResult s = search_of({step_of(1000, 1000, 100, true), step_of(2000, 1500, 3000, false)});
    s.max_rate = 1000;
    s.stop = "converged";
    const std::string heading = echobench::format_find_rate_heading(s);
    CHECK(heading.starts_with("echobench 127.0.0.1:7007: find-rate, SLO p99 <= 1.00ms, 50 connections"));
    CHECK(heading.find("steps of 5.000 s after 1.000 s warm-up") != std::string::npos);
    const std::string first = echobench::format_find_rate_step(s, 1);
    CHECK(first == "     1       1000.0       1000.0    100.0us    100.0us    100.0us    100.0us       0  pass\n");
    const std::string second = echobench::format_find_rate_step(s, 2);
    CHECK(second.ends_with("FAIL (p99 3.00ms over 1.00ms, achieved 75.0% of the rate)\n"));
    CHECK(echobench::format_find_rate_summary(s) ==
          "  max rate   1000.0 msgs/s meets p99 <= 1.00ms; lowest failing 2000.0 msgs/s (search ended: converged)\n");
    CHECK(echobench::format_find_rate_table(s) == heading + first + second + echobench::format_find_rate_summary(s));
    SUBCASE("no rate") {
        s.steps = {step_of(1000, 1000, 3000, false)};
        s.max_rate.reset();
        CHECK(echobench::format_find_rate_summary(s) ==
              "  max rate   none: the first step, 1000.0 msgs/s, did not pass (p99 3.00ms over 1.00ms); try a "
              "lower --rate\n");
    }
}
