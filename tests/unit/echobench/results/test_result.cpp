// A run's result: the JSON object of the contract, errors, latency for people.
#include "doctest_include.h"

#include "echobench/results/result.h"

#include <string>

TEST_CASE("report: JSON has the contract's fields") {
    echobench::BenchResult r;
    r.target = "127.0.0.1:7007";
    r.connections = 50;
    r.threads = 1;
    r.size = 64;
    r.pipeline = 1;
    r.warmup_s = 1;
    r.established = 50;

    SUBCASE("nothing echoed: null latencies, exit 1") {
        std::string json = echobench::format_json(r);
        CHECK(json.starts_with(R"({"connections": 50, "size": 64, "pipeline": 1, "duration_s": 0.000, )"
                               R"("messages": 0, "msgs_per_sec": 0.0, "bytes_per_sec": 0.0, )"
                               R"("latency_us": {"min": null, "p50": null, "p90": null, "p99": null, )"
                               R"("p999": null, "max": null}, )"
                               R"("errors": {"connect": 0, "broken": 0, "mismatch": 0, "timeout": 0}, )"));
        CHECK(json.ends_with("}\n"));
        CHECK(echobench::exit_status(r) == 1);
        CHECK(echobench::failure_summary(r).find("nothing was echoed") != std::string::npos);
    }
    SUBCASE("a clean run: rates, microseconds, exit 0") {
        r.duration_s = 2.0;
        r.messages = 1000;
        for (int i = 0; i < 1000; ++i) {
            r.latency.record(30000);  // 30 us
        }
        std::string json = echobench::format_json(r);
        CHECK(json.find(R"("duration_s": 2.000, "messages": 1000, "msgs_per_sec": 500.0, "bytes_per_sec": 32000.0)") !=
              std::string::npos);
        CHECK(json.find(R"("latency_us": {"min": 30.0, "p50": 30.0, "p90": 30.0, "p99": 30.0, "p999": 30.0, )"
                        R"("max": 30.0})") != std::string::npos);
        CHECK(json.find(R"("rate": null)") != std::string::npos);
        CHECK(echobench::exit_status(r) == 0);
        CHECK(echobench::failure_summary(r).empty());
        std::string table = echobench::format_table(r);
        CHECK(table.find("500.0 msgs/s") != std::string::npos);
        CHECK(table.find("p99 30.0us") != std::string::npos);
    }
    SUBCASE("any error kind means exit 1, with its first reason") {
        r.duration_s = 1.0;
        r.messages = 10;
        r.latency.record(1000);
        r.errors.mismatch = 2;
        r.errors.mismatch_reason = "connection 0 message 3: echoed bytes differ";
        CHECK(echobench::exit_status(r) == 1);
        std::string summary = echobench::failure_summary(r);
        CHECK(summary.find("2 message(s) echoed wrong (first: connection 0 message 3") != std::string::npos);
        CHECK(echobench::format_json(r).find(R"("mismatch": 2)") != std::string::npos);
    }
    SUBCASE("open loop reports the shortfall") {
        r.rate = 1000;
        r.duration_s = 1.0;
        r.messages = 900;
        CHECK(echobench::format_json(r).find(
                  R"("rate": {"target": 1000.0, "achieved": 900.0, "shortfall_pct": 10.00})") != std::string::npos);
    }
}

TEST_CASE("report: errors merge, keeping the first reason") {
    echobench::BenchErrors a;
    echobench::BenchErrors b;
    a.connect = 1;
    a.connect_reason = "connect: connection refused";
    b.connect = 2;
    b.connect_reason = "connect: timed out";
    b.broken = 1;
    b.broken_reason = "read: connection reset by peer";
    a.merge(b);
    CHECK(a.connect == 3);
    CHECK(a.connect_reason == "connect: connection refused");
    CHECK(a.broken == 1);
    CHECK(a.broken_reason == "read: connection reset by peer");
    CHECK(a.total() == 4);
}

TEST_CASE("report: latency for people") {
    CHECK(echobench::format_latency(9100) == "9.1us");
    CHECK(echobench::format_latency(12'345'000) == "12.35ms");
    CHECK(echobench::format_latency(1'500'000'000) == "1.50s");
}

// --- The JSON reader ---------------------------------------------------------------

TEST_CASE("report: churn's connects, their rate and connect latency") {
    echobench::BenchResult r;
    r.target = "127.0.0.1:7007";
    r.connections = 50;
    r.size = 64;
    r.duration_s = 2.0;
    r.messages = 1000;
    r.latency.record(30000);
    SUBCASE("connections kept: no connects, connect latency null, no table line") {
        std::string json = echobench::format_json(r);
        CHECK(json.find(R"("connects": 0, "connects_per_sec": 0.0, "connect_latency_us": null, )"
                        R"("messages_per_connection": 0, "timeline": [)") != std::string::npos);
        CHECK(echobench::format_table(r).find("connects") == std::string::npos);
    }
    SUBCASE("churn") {
        r.messages_per_connection = 1;
        r.connects = 1000;
        for (int i = 0; i < 1000; ++i) {
            r.connect_latency.record(i < 990 ? 20000 : 500000);  // 20 us, and 1% at 500 us
        }
        std::string json = echobench::format_json(r);
        INFO(json);
        CHECK(json.find(R"("connects": 1000, "connects_per_sec": 500.0, )"
                        R"("connect_latency_us": {"min": 20.0, "p50": 20.0, "p90": 20.0, "p99": 20.0, )"
                        R"("p999": 500.0, "max": 500.0}, "messages_per_connection": 1, )") != std::string::npos);
        std::string table = echobench::format_table(r);
        INFO(table);
        CHECK(table.find("  connects   1000  500.0 connects/s, 1 message(s) per connection\n") != std::string::npos);
        CHECK(table.find("  connect    min 20.0us  p50 20.0us  p90 20.0us  p99 20.0us  p99.9 500.0us  max 500.0us\n") !=
              std::string::npos);
    }
}
