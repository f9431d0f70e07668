// echobench's command line, and the report formats it leads to.
#include "doctest_include.h"

#include "echod/bench_options.h"
#include "echod/bench_report.h"

#include <initializer_list>
#include <string>
#include <vector>

using echod::BenchCommandLine;
using echod::BenchConfig;
using Action = BenchCommandLine::Action;
using Mode = BenchConfig::Mode;

namespace {

BenchCommandLine parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv = {"echobench"};
    argv.insert(argv.end(), args.begin(), args.end());
    return echod::parse_bench_command_line(argv);
}

BenchConfig config_of(std::initializer_list<const char*> args) {
    BenchCommandLine cl = parse(args);
    INFO(cl.error);
    REQUIRE(cl.action == Action::run);
    return cl.config;
}

std::string error_of(std::initializer_list<const char*> args) {
    BenchCommandLine cl = parse(args);
    REQUIRE(cl.action == Action::usage_error);
    return cl.error;
}

std::string usage(std::string_view what) {
    return "echobench: " + std::string(what) + " (see 'echobench --help')";
}

}  // namespace

TEST_CASE("defaults are the contract's") {
    BenchConfig c = config_of({});
    CHECK(c.mode == Mode::load);
    CHECK(c.host == "127.0.0.1");
    CHECK(c.port == 7007);
    CHECK(c.connections == 50);
    CHECK(c.size == 64);
    CHECK(c.pipeline == 1);
    CHECK(c.duration_s == 10.0);
    CHECK(c.messages == 0);
    CHECK(c.rate == 0.0);
    CHECK(c.warmup_s == 1.0);
    CHECK(c.verify);
    CHECK_FALSE(c.json);
    CHECK(c.threads == 1);
    CHECK(c.interval_s == 1.0);
    CHECK(c.count == 0);
}

TEST_CASE("every option, long and short, both value spellings") {
    SUBCASE("host and port") {
        CHECK(config_of({"-H", "::1"}).host == "::1");
        CHECK(config_of({"--host=10.0.0.1"}).host == "10.0.0.1");
        CHECK(config_of({"-p", "1"}).port == 1);
        CHECK(config_of({"--port=65535"}).port == 65535);
    }
    SUBCASE("load shape") {
        CHECK(config_of({"-c", "1000"}).connections == 1000);
        CHECK(config_of({"--connections=1"}).connections == 1);
        CHECK(config_of({"-s", "64KiB"}).size == 65536);
        CHECK(config_of({"--size", "1M"}).size == 1048576);
        CHECK(config_of({"--size=1"}).size == 1);
        CHECK(config_of({"-P", "16"}).pipeline == 16);
        CHECK(config_of({"--pipeline=1024"}).pipeline == 1024);
        CHECK(config_of({"-t", "2"}).threads == 2);
        CHECK(config_of({"--threads=256"}).threads == 256);
    }
    SUBCASE("how long") {
        CHECK(config_of({"-d", "0.5"}).duration_s == 0.5);
        CHECK(config_of({"--duration=30"}).duration_s == 30.0);
        CHECK(config_of({"-n", "1000"}).messages == 1000);
        CHECK(config_of({"--messages=1"}).messages == 1);
        CHECK(config_of({"--warmup", "0"}).warmup_s == 0.0);
        CHECK(config_of({"--warmup=2.5"}).warmup_s == 2.5);
        CHECK(config_of({"--timeout", "0.25"}).timeout_s == 0.25);
    }
    SUBCASE("open loop") {
        CHECK(config_of({"-r", "1000"}).rate == 1000.0);
        CHECK(config_of({"--rate=0.5"}).rate == 0.5);
        CHECK(config_of({"--connect-rate", "100"}).connect_rate == 100.0);
    }
    SUBCASE("flags") {
        CHECK_FALSE(config_of({"--no-verify"}).verify);
        CHECK(config_of({"--json"}).json);
    }
    SUBCASE("modes") {
        CHECK(config_of({"--ping"}).mode == Mode::ping);
        BenchConfig ping = config_of({"--ping", "-i", "0.2", "--count", "3"});
        CHECK(ping.interval_s == 0.2);
        CHECK(ping.count == 3);
        CHECK(config_of({"--interactive"}).mode == Mode::interactive);
    }
    SUBCASE("a later option overrides an earlier one") {
        CHECK(config_of({"-c", "5", "-c", "7"}).connections == 7);
        CHECK(config_of({"--port=1", "-p", "2"}).port == 2);
    }
}

TEST_CASE("help and version") {
    CHECK(parse({"--help"}).action == Action::help);
    CHECK(parse({"-h"}).action == Action::help);
    CHECK(parse({"--version"}).action == Action::version);
    // A bad value before --help is still an error: nothing is half-parsed.
    CHECK(parse({"-c", "0", "--help"}).action == Action::usage_error);
    std::string help = echod::bench_help_text();
    for (const char* option :
         {"--host", "--port",     "--connections", "--size",        "--pipeline", "--duration", "--messages",
          "--rate", "--warmup",   "--no-verify",   "--json",        "--threads",  "--timeout",  "--connect-rate",
          "--ping", "--interval", "--count",       "--interactive", "--help",     "--version"}) {
        CAPTURE(option);
        CHECK(help.find(option) != std::string::npos);
    }
}

TEST_CASE("usage errors name the option, in one line") {
    CHECK(error_of({"-c", "0"}) == usage("--connections: 0 is out of range 1..100000"));
    CHECK(error_of({"--port", "0"}) == usage("--port: 0 is out of range 1..65535"));
    CHECK(error_of({"-p", "70000"}) == usage("--port: 70000 is out of range 1..65535"));
    CHECK(error_of({"-P", "x"}) == usage("--pipeline: 'x' is not a whole number"));
    CHECK(error_of({"-s", "0"}).starts_with("echobench: --size: "));
    CHECK(error_of({"-s", "1KB"}).starts_with("echobench: --size: '1KB' is not a size"));
    CHECK(error_of({"-d", "0"}).starts_with("echobench: --duration: 0 is out of range"));
    CHECK(error_of({"-d", "-1"}) == usage("--duration: '-1' is not a number of seconds"));
    CHECK(error_of({"-n", "0"}).starts_with("echobench: --messages: 0 is out of range"));
    CHECK(error_of({"-r", "fast"}) == usage("--rate: 'fast' is not a number per second"));
    CHECK(error_of({"-r", "0"}).starts_with("echobench: --rate: 0 is out of range"));
    CHECK(error_of({"-t", "0"}).starts_with("echobench: --threads: 0 is out of range"));
    CHECK(error_of({"-H", "localhost"}) == usage("--host: 'localhost' is not an IPv4 or IPv6 address literal"));
    CHECK(error_of({"--warmup"}) == usage("--warmup: missing value"));
    CHECK(error_of({"-c"}) == usage("--connections: missing value"));
    CHECK(error_of({"--json=yes"}) == usage("--json: takes no value"));
    CHECK(error_of({"--frobnicate"}) == usage("unknown option '--frobnicate'"));
    CHECK(error_of({"-x"}) == usage("unknown option '-x'"));
    CHECK(error_of({"extra"}) == usage("unexpected argument 'extra'"));
    CHECK(error_of({"--ping", "--interactive"}) == usage("--interactive: cannot be combined with --ping"));
    CHECK(error_of({"--count", "3"}) == usage("--count: only applies with --ping"));
    CHECK(error_of({"-i", "1"}) == usage("--interval: only applies with --ping"));
    std::string big = error_of({"-c", "1000", "-P", "1024", "-s", "64MiB"});
    CHECK(big.starts_with("echobench: --size: 1000 connections x pipeline 1024 x 64MiB"));
    for (const std::string& e : {error_of({"-c", "0"}), big}) {
        CHECK(e.find('\n') == std::string::npos);
    }
}

TEST_CASE("report: JSON has the contract's fields") {
    echod::BenchResult r;
    r.target = "127.0.0.1:7007";
    r.connections = 50;
    r.threads = 1;
    r.size = 64;
    r.pipeline = 1;
    r.warmup_s = 1;
    r.established = 50;

    SUBCASE("nothing echoed: null latencies, exit 1") {
        std::string json = echod::format_json(r);
        CHECK(json.starts_with(R"({"connections": 50, "size": 64, "pipeline": 1, "duration_s": 0.000, )"
                               R"("messages": 0, "msgs_per_sec": 0.0, "bytes_per_sec": 0.0, )"
                               R"("latency_us": {"min": null, "p50": null, "p90": null, "p99": null, )"
                               R"("p999": null, "max": null}, )"
                               R"("errors": {"connect": 0, "broken": 0, "mismatch": 0, "timeout": 0}, )"));
        CHECK(json.ends_with("}\n"));
        CHECK(echod::exit_status(r) == 1);
        CHECK(echod::failure_summary(r).find("nothing was echoed") != std::string::npos);
    }
    SUBCASE("a clean run: rates, microseconds, exit 0") {
        r.duration_s = 2.0;
        r.messages = 1000;
        for (int i = 0; i < 1000; ++i) {
            r.latency.record(30000);  // 30 us
        }
        std::string json = echod::format_json(r);
        CHECK(json.find(R"("duration_s": 2.000, "messages": 1000, "msgs_per_sec": 500.0, "bytes_per_sec": 32000.0)") !=
              std::string::npos);
        CHECK(json.find(R"("latency_us": {"min": 30.0, "p50": 30.0, "p90": 30.0, "p99": 30.0, "p999": 30.0, )"
                        R"("max": 30.0})") != std::string::npos);
        CHECK(json.find(R"("rate": null)") != std::string::npos);
        CHECK(echod::exit_status(r) == 0);
        CHECK(echod::failure_summary(r).empty());
        std::string table = echod::format_table(r);
        CHECK(table.find("500.0 msgs/s") != std::string::npos);
        CHECK(table.find("p99 30.0us") != std::string::npos);
    }
    SUBCASE("any error kind means exit 1, with its first reason") {
        r.duration_s = 1.0;
        r.messages = 10;
        r.latency.record(1000);
        r.errors.mismatch = 2;
        r.errors.mismatch_reason = "connection 0 message 3: echoed bytes differ";
        CHECK(echod::exit_status(r) == 1);
        std::string summary = echod::failure_summary(r);
        CHECK(summary.find("2 message(s) echoed wrong (first: connection 0 message 3") != std::string::npos);
        CHECK(echod::format_json(r).find(R"("mismatch": 2)") != std::string::npos);
    }
    SUBCASE("open loop reports the shortfall") {
        r.rate = 1000;
        r.duration_s = 1.0;
        r.messages = 900;
        CHECK(echod::format_json(r).find(R"("rate": {"target": 1000.0, "achieved": 900.0, "shortfall_pct": 10.00})") !=
              std::string::npos);
    }
}

TEST_CASE("report: errors merge, keeping the first reason") {
    echod::BenchErrors a;
    echod::BenchErrors b;
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
    CHECK(echod::format_latency(9100) == "9.1us");
    CHECK(echod::format_latency(12'345'000) == "12.35ms");
    CHECK(echod::format_latency(1'500'000'000) == "1.50s");
}
