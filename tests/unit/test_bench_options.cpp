// echobench's command line, and the report formats it leads to.
#include "doctest_include.h"

#include "echod/bench_json.h"
#include "echod/bench_merge.h"
#include "echod/bench_options.h"
#include "echod/bench_report.h"

#include "sample_run.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

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
    SUBCASE("--histogram-out and --merge") {
        CHECK(config_of({"--histogram-out", "run.json"}).histogram_out == "run.json");
        CHECK(config_of({"--histogram-out=a.json", "-c", "2", "--json"}).histogram_out == "a.json");
        BenchConfig merge = config_of({"--merge", "a.json", "b.json", "--json", "--histogram-out", "m.json", "c.json"});
        CHECK(merge.mode == Mode::merge);
        CHECK(merge.input_files == std::vector<std::string>{"a.json", "b.json", "c.json"});
        CHECK(merge.json);
        CHECK(merge.histogram_out == "m.json");
        // Files may come before --merge too, and "-" style names need "./".
        CHECK(config_of({"x.json", "--merge"}).input_files == std::vector<std::string>{"x.json"});
    }
    SUBCASE("--report and --compare") {
        CHECK(config_of({"--report", "run.html"}).report == "run.html");
        BenchConfig load = config_of({"-c", "2", "--report=r.html", "--histogram-out", "r.json", "--json"});
        CHECK(load.mode == Mode::load);
        CHECK(load.report == "r.html");
        CHECK(load.histogram_out == "r.json");
        CHECK(config_of({"--merge", "a.json", "--report", "m.html"}).report == "m.html");
        BenchConfig compare = config_of({"--report", "c.html", "--compare", "a.json", "b.json"});
        CHECK(compare.mode == Mode::compare);
        CHECK(compare.report == "c.html");
        CHECK(compare.input_files == std::vector<std::string>{"a.json", "b.json"});
        CHECK(config_of({"a.json", "--compare", "--report", "c.html"}).input_files ==
              std::vector<std::string>{"a.json"});
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
         {"--host",     "--port",         "--connections",   "--size",      "--pipeline", "--duration",
          "--messages", "--rate",         "--warmup",        "--no-verify", "--json",     "--threads",
          "--timeout",  "--connect-rate", "--ping",          "--interval",  "--count",    "--interactive",
          "--help",     "--version",      "--histogram-out", "--merge",     "--report",   "--compare"}) {
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
    CHECK(error_of({"--merge", "--ping"}) == usage("--ping: cannot be combined with --merge"));
    CHECK(error_of({"--interactive", "--merge", "a"}) == usage("--merge: cannot be combined with --interactive"));
    CHECK(error_of({"--merge"}) == usage("--merge: no files given (echobench --merge FILE...)"));
    CHECK(error_of({"--merge", "a.json", "-c", "5"}) == usage("--connections: does not apply with --merge"));
    CHECK(error_of({"-d", "1", "--merge", "a.json"}) == usage("--duration: does not apply with --merge"));
    CHECK(error_of({"--merge", "a.json", "--no-verify"}) == usage("--no-verify: does not apply with --merge"));
    CHECK(error_of({"--merge", "a.json", "--count", "1"}) == usage("--count: does not apply with --merge"));
    CHECK(error_of({"--histogram-out"}) == usage("--histogram-out: missing value"));
    CHECK(error_of({"--histogram-out="}) == usage("--histogram-out: empty file name"));
    CHECK(error_of({"--ping", "--histogram-out", "x"}) ==
          usage("--histogram-out: only applies to a load run or --merge"));
    CHECK(error_of({"--interactive", "--histogram-out", "x"}) ==
          usage("--histogram-out: only applies to a load run or --merge"));
    CHECK(error_of({"a.json", "b.json"}) == usage("unexpected argument 'a.json'"));
    CHECK(error_of({"--ping", "a.json"}) == usage("unexpected argument 'a.json'"));
    CHECK(error_of({"--merge=x"}) == usage("--merge: takes no value"));
    CHECK(error_of({"--report"}) == usage("--report: missing value"));
    CHECK(error_of({"--report="}) == usage("--report: empty file name"));
    CHECK(error_of({"--ping", "--report", "x.html"}) ==
          usage("--report: only applies to a load run, --merge or --compare"));
    CHECK(error_of({"--interactive", "--report", "x.html"}) ==
          usage("--report: only applies to a load run, --merge or --compare"));
    CHECK(error_of({"--compare", "a.json"}) ==
          usage("--compare: needs --report FILE.html (echobench --report FILE.html --compare FILE...)"));
    CHECK(error_of({"--report", "c.html", "--compare"}) ==
          usage("--compare: no files given (echobench --report FILE.html --compare FILE...)"));
    CHECK(error_of({"--report", "c.html", "--compare", "a.json", "-c", "5"}) ==
          usage("--connections: does not apply with --compare"));
    CHECK(error_of({"--report", "c.html", "--compare", "a.json", "--json"}) ==
          usage("--json: does not apply with --compare (it writes --report's page only)"));
    CHECK(error_of({"--report", "c.html", "--compare", "a.json", "--histogram-out", "m.json"}) ==
          usage("--histogram-out: does not apply with --compare (use --merge to combine runs)"));
    CHECK(error_of({"--merge", "--compare", "a.json"}) == usage("--compare: cannot be combined with --merge"));
    CHECK(error_of({"--report", "x", "--histogram-out", "x"}) ==
          usage("--report: is the same file as --histogram-out"));
    CHECK(error_of({"--report", "a.json", "--compare", "a.json"}) ==
          usage("--report: would overwrite 'a.json', a file to compare"));
    CHECK(error_of({"--compare", "--ping"}) == usage("--ping: cannot be combined with --compare"));
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

// --- The JSON reader ---------------------------------------------------------------

namespace {

std::string json_error(std::string_view text) {
    echod::JsonValue v;
    return echod::parse_json(text, v);
}

}  // namespace

TEST_CASE("JSON reader: the grammar, strictly") {
    using Type = echod::JsonValue::Type;
    echod::JsonValue v;
    REQUIRE(echod::parse_json(
                R"( {"a": [1, -2.5e3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {}} )", v)
                .empty());
    REQUIRE(v.type == Type::object);
    const echod::JsonValue* a = v.find("a");
    REQUIRE(a != nullptr);
    REQUIRE(a->items.size() == 6);
    CHECK(a->items[0].as_uint() == 1);
    CHECK(a->items[1].as_uint() == std::nullopt);
    CHECK(a->items[1].as_double() == -2500.0);
    CHECK(a->items[2].boolean);
    CHECK(a->items[3].type == Type::boolean);
    CHECK(a->items[4].type == Type::null);
    CHECK(a->items[5].text == "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(v.find("b")->type == Type::object);
    CHECK(v.find("c") == nullptr);
    REQUIRE(echod::parse_json("18446744073709551615", v).empty());
    CHECK(v.as_uint() == UINT64_MAX);
    REQUIRE(echod::parse_json("18446744073709551616", v).empty());
    CHECK(v.as_uint() == std::nullopt);
    REQUIRE(echod::parse_json("1e999", v).empty());
    CHECK(v.as_double() == std::nullopt);  // not finite

    for (const char* bad : {"",          " ",           "{",
                            "}",         "[1,]",        "{\"a\":1,}",
                            "{\"a\" 1}", "{a: 1}",      "{\"a\":1}x",
                            "01",        "1.",          ".5",
                            "-",         "+1",          "1e",
                            "NaN",       "Infinity",    "tru",
                            "nul",       "\"abc",       "\"\\x\"",
                            "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
                            "\"a\tb\"",  "[1 2]",       "{\"a\":1,\"a\":2}",
                            "// c\n1",   "'a'",         "[1]]"}) {
        CAPTURE(bad);
        CHECK(json_error(bad).starts_with("at byte "));
    }
    CHECK(json_error("{\"a\": 1,}") == "at byte 8: expected a string key");
    std::string deep(65, '[');
    deep += std::string(65, ']');
    CHECK(json_error(deep).find("nested too deeply") != std::string::npos);
    std::string ok(64, '[');
    ok += std::string(64, ']');
    CHECK(json_error(ok).empty());
}

// --- --histogram-out documents and --merge ---------------------------------------

namespace {

echod::BenchResult read_back(const echod::BenchResult& r) {
    echod::BenchResult back;
    std::string error = echod::parse_histogram_document(echod::format_histogram_document(r), back);
    INFO(error);
    REQUIRE(error.empty());
    return back;
}

}  // namespace

TEST_CASE("--histogram-out document: the --json object plus the histogram") {
    echod::BenchResult r = echod_test::sample_run(10000, 5000, 4, 2.0);
    std::string doc = echod::format_histogram_document(r);
    std::string json = echod::format_json(r);
    // The same object, with one more field at the end.
    CHECK(doc.starts_with(json.substr(0, json.size() - 2)));
    CHECK(doc.find(R"(, "histogram": {"unit": "ns", )") != std::string::npos);
    CHECK(doc.ends_with("]}}\n"));
    echod::BenchResult back = read_back(r);
    CHECK(back.connections == 4);
    CHECK(back.size == 64);
    CHECK(back.messages == 5000);
    CHECK(back.duration_s == 2.0);
    CHECK(back.msgs_per_sec() == 2500.0);
    CHECK(back.runs == 1);
    CHECK(back.latency.count() == 5000);
    CHECK(back.latency.percentile(99) == r.latency.percentile(99));
    CHECK(back.version == "0.1.0");
    CHECK(back.started_at == "2026-11-30T01:00:00Z");
    CHECK(back.warmup_start_s == 0.25);
    CHECK(back.window_end_s == 3.25);
    REQUIRE(back.timeline.size() == 4);
    CHECK(back.timeline[3].t_s == 3);
    CHECK(back.timeline[3].dt_s == 0.25);
    CHECK(back.timeline[3].msgs == r.timeline[3].msgs);
    CHECK(back.timeline[3].p99_ns == r.timeline[3].p99_ns);
    CHECK(back.timeline[3].connections == 4);
    // Read back and written again: the same bytes.
    CHECK(echod::format_histogram_document(back) == doc);

    SUBCASE("refused: not ours, inconsistent, broken") {
        auto refused = [](const std::string& text) {
            echod::BenchResult out;
            return echod::parse_histogram_document(text, out);
        };
        CHECK(refused("").starts_with("not JSON: at byte 0"));
        CHECK(refused(doc.substr(0, doc.size() / 2)).starts_with("not JSON"));
        CHECK(refused("[]") == "not a JSON object");
        CHECK(refused(json).find("no \"histogram\"") != std::string::npos);
        auto with = [&doc](const std::string& from, const std::string& to) {
            std::string text = doc;
            auto at = text.find(from);
            REQUIRE(at != std::string::npos);
            return text.replace(at, from.size(), to);
        };
        CHECK(refused(with(R"("messages": 5000)", R"("messages": 5001)")).find("\"messages\" is 5001") !=
              std::string::npos);
        CHECK(refused(with(R"("size": 64)", R"("size": "64")")) == R"("size" is not a whole number in range)");
        CHECK(refused(with(R"("connections": 4)", R"("connections": 4294967296)")) ==
              R"("connections" is not a whole number in range)");
        CHECK(refused(with(R"("duration_s": 2.000)", R"("duration_s": -1)")) ==
              R"("duration_s" is not a number of 0 or more)");
        CHECK(refused(with(R"("verify": true)", R"("verify": 1)")) == R"("verify" is not true or false)");
        CHECK(refused(with(R"("mismatch": 0)", R"("mismatches": 0)")) == R"(errors: no "mismatch")");
        CHECK(refused(with(R"("runs": 1)", R"("runs": 0)")) == R"("runs" is 0)");
        CHECK(refused(with(R"("rate": null)", R"("rate": 5)")) == R"("rate" is neither null nor an object)");
        CHECK(refused(with(R"("bucket_count": 3840)", R"("bucket_count": 2048)")).find("layout") != std::string::npos);
        CHECK(refused(with(R"("timeline": [)", R"("timeline": {)")).starts_with("not JSON"));
        CHECK(refused(with(R"({"t": 1, )", R"({"t": 2, )")) == "timeline[1]: not the sample of second 1");
        CHECK(refused(with(R"("p99_us": 11.0)", R"("p99_us": "11")")) ==
              R"(timeline[1]: "p99_us" is neither null nor a number of 0 or more)");
        CHECK(refused(with(R"("phases": {)", R"("phases": {"x": 1, )")).empty());  // more fields may come
        CHECK(refused(with(R"("window_end_s": 3.250)", R"("window_end": 3.250)")) == R"(phases: no "window_end_s")");
    }
    SUBCASE("files from before the timeline still read") {
        echod::BenchResult old = r;
        old.timeline.clear();
        std::string text = echod::format_histogram_document(old);
        for (const char* field : {R"("version": "0.1.0", )", R"("started_at": "2026-11-30T01:00:00Z", )",
                                  R"("phases": {"warmup_start_s": 0.250, "window_start_s": 1.250, )"
                                  R"("window_end_s": 3.250}, )",
                                  R"("timeline": [], )"}) {
            auto at = text.find(field);
            REQUIRE(at != std::string::npos);
            text.erase(at, std::string_view(field).size());
        }
        echod::BenchResult out;
        CHECK(echod::parse_histogram_document(text, out).empty());
        CHECK(out.timeline.empty());
        CHECK(out.version.empty());
    }
}

TEST_CASE("--merge: sums, the longest window, percentiles of every sample") {
    echod::BenchResult a = echod_test::sample_run(10000, 30000, 10, 10.0);
    echod::BenchResult b = echod_test::sample_run(50000, 10000, 5, 9.5);
    b.target = "10.0.0.2:7007";
    b.pipeline = 4;
    b.errors.broken = 1;
    std::vector<echod::BenchResult> runs = {read_back(a), read_back(b)};
    std::vector<std::string> names = {"a.json", "b.json"};
    echod::BenchResult m;
    REQUIRE(echod::merge_runs(runs, names, m).empty());
    CHECK(m.runs == 2);
    CHECK(m.messages == 40000);
    CHECK(m.connections == 15);
    CHECK(m.established == 15);
    CHECK(m.threads == 2);
    CHECK(m.pipeline == 4);
    CHECK(m.duration_s == 10.0);
    CHECK(m.msgs_per_sec() == doctest::Approx(3000.0 + 10000.0 / 9.5).epsilon(1e-4));
    CHECK(m.bytes_per_sec() == doctest::Approx(m.msgs_per_sec() * 64));
    CHECK(m.errors.broken == 1);
    CHECK(m.target == "127.0.0.1:7007, 10.0.0.2:7007");
    CHECK(echod::exit_status(m) == 1);
    CHECK(m.version == "0.1.0");
    CHECK(m.window_end_s == 11.25);
    REQUIRE(m.timeline.size() == 12);  // a's 11.25 s
    CHECK(m.timeline[0].msgs == a.timeline[0].msgs + b.timeline[0].msgs);
    CHECK(m.timeline[0].connections == 15);
    CHECK_FALSE(m.timeline[0].p99_ns.has_value());
    CHECK(m.timeline[11].msgs == a.timeline[11].msgs);
    echod::Histogram all = a.latency;
    all.merge(b.latency);
    CHECK(m.latency.count() == all.count());
    CHECK(m.latency.min() == all.min());
    CHECK(m.latency.max() == all.max());
    for (double q : {50.0, 90.0, 99.0, 99.9}) {
        CHECK(m.latency.percentile(q) == all.percentile(q));
    }
    std::string json = echod::format_json(m);
    CHECK(json.find(R"("runs": 2)") != std::string::npos);
    CHECK(echod::format_table(m).starts_with("echobench: 2 runs merged"));

    SUBCASE("merges compose") {
        echod::BenchResult again = read_back(m);
        CHECK(again.runs == 2);
        std::vector<echod::BenchResult> one = {again};
        echod::BenchResult m2;
        REQUIRE(echod::merge_runs(one, names, m2).empty());
        CHECK(echod::format_histogram_document(m2) == echod::format_histogram_document(again));
    }
    SUBCASE("a different message size is refused, naming the file") {
        runs[1].size = 1024;
        CHECK(echod::merge_runs(runs, names, m) == "b.json: message size 1KiB differs from a.json's 64B");
    }
    SUBCASE("open and closed loop do not mix") {
        runs[1].rate = 1000;
        CHECK(echod::merge_runs(runs, names, m).starts_with("b.json: an open-loop run, but a.json is closed-loop"));
    }
}

TEST_CASE("files: read whole, written atomically") {
    char dir_template[] = "/tmp/echobench-test-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;
    const std::string path = dir + "/run.json";
    std::string text;
    CHECK(echod::read_text_file(path, text) == "No such file or directory");
    {
        echod::AtomicFile file;
        REQUIRE(file.open(path).empty());
        CHECK(echod::read_text_file(path, text) == "No such file or directory");  // not there until commit
        REQUIRE(file.commit("hello\n").empty());
    }
    REQUIRE(echod::read_text_file(path, text).empty());
    CHECK(text == "hello\n");
    {
        echod::AtomicFile file;
        REQUIRE(file.open(path).empty());
        // Never committed: the old file stays, the temporary goes.
    }
    REQUIRE(echod::read_text_file(path, text).empty());
    CHECK(text == "hello\n");
    echod::AtomicFile nowhere;
    CHECK(nowhere.open(dir + "/no/such/dir/x.json") == "No such file or directory");
    CHECK(std::remove(path.c_str()) == 0);
    CHECK(rmdir(dir.c_str()) == 0);  // empty: no temporary left behind
}
