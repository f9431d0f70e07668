// echobench's command line: every option, its defaults, its usage errors.
#include "doctest_include.h"

#include "echobench/options.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <initializer_list>
#include <string>
#include <vector>

using echobench::BenchCommandLine;
using echobench::BenchConfig;
using Action = BenchCommandLine::Action;
using Mode = BenchConfig::Mode;

namespace {

BenchCommandLine parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv = {"echobench"};
    argv.insert(argv.end(), args.begin(), args.end());
    return echobench::parse_bench_command_line(argv);
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
    std::string help = echobench::bench_help_text();
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

TEST_CASE("-H unix:PATH: a Unix stream socket, in every mode") {
    CHECK(config_of({"-H", "unix:/run/echod.sock"}).host == "unix:/run/echod.sock");
    CHECK(config_of({"--host=unix:echod.sock", "-p", "9"}).host == "unix:echod.sock");
    CHECK(config_of({"--ping", "-H", "unix:/tmp/e.sock"}).mode == Mode::ping);
    CHECK(config_of({"--interactive", "-H", "unix:/tmp/e.sock"}).mode == Mode::interactive);

    std::string fits = "unix:/" + std::string(106, 'x');  // a 107-byte path: the most sun_path holds
    CHECK(config_of({"-H", fits.c_str()}).host == fits);
    std::string over = fits + "y";
    CHECK(error_of({"-H", over.c_str()}) ==
          usage("--host: '" + over.substr(0, 60) +
                "...': the path is 108 bytes, more than the 107 a Unix socket address holds"));
    CHECK(error_of({"-H", "unix:"}) == usage("--host: 'unix:' needs a path (unix:PATH)"));
    CHECK(error_of({"-H", "/tmp/e.sock"}) ==
          usage("--host: '/tmp/e.sock' is not an IPv4 or IPv6 address literal (a Unix socket is unix:/tmp/e.sock)"));
}

TEST_CASE("--messages-per-connection: churn, load runs only") {
    CHECK(config_of({}).messages_per_connection == 0);
    CHECK(config_of({"--messages-per-connection", "1"}).messages_per_connection == 1);
    CHECK(config_of({"--messages-per-connection=250", "-n", "1000"}).messages_per_connection == 250);
    CHECK(config_of({"--messages-per-connection", "0"}).messages_per_connection == 0);  // keep connections
    CHECK(echobench::bench_help_text().find("--messages-per-connection N") != std::string::npos);
    CHECK(error_of({"--messages-per-connection", "x"}) ==
          usage("--messages-per-connection: 'x' is not a whole number"));
    CHECK(error_of({"--messages-per-connection", "-1"}).starts_with("echobench: --messages-per-connection: "));
    CHECK(error_of({"--messages-per-connection"}) == usage("--messages-per-connection: missing value"));
    CHECK(error_of({"--ping", "--messages-per-connection", "1"}) ==
          usage("--messages-per-connection: only applies to a load run"));
    CHECK(error_of({"--interactive", "--messages-per-connection", "1"}) ==
          usage("--messages-per-connection: only applies to a load run"));
    CHECK(error_of({"--merge", "a.json", "--messages-per-connection", "1"}) ==
          usage("--messages-per-connection: does not apply with --merge"));
}

TEST_CASE("--find-rate, --slo, --step-duration") {
    SUBCASE("defaults: p99=1000, steps of 5 s") {
        BenchConfig c = config_of({"--find-rate"});
        CHECK(c.mode == Mode::find_rate);
        CHECK(c.slo.percentile == "p99");
        CHECK(c.slo.quantile == 99.0);
        CHECK(c.slo.us == 1000);
        CHECK(c.step_duration_s == 5.0);
        CHECK(c.rate == 0.0);  // the search starts at default_start_rate
    }
    SUBCASE("every percentile") {
        CHECK(config_of({"--find-rate", "--slo", "p50=20"}).slo.quantile == 50.0);
        CHECK(config_of({"--find-rate", "--slo=p90=300"}).slo.quantile == 90.0);
        BenchConfig c = config_of({"--find-rate", "--slo", "p999=50000", "--step-duration", "0.5", "-r", "200"});
        CHECK(c.slo.percentile == "p999");
        CHECK(c.slo.quantile == 99.9);
        CHECK(c.slo.us == 50000);
        CHECK(c.step_duration_s == 0.5);
        CHECK(c.rate == 200.0);
    }
    SUBCASE("with the load's options and --report") {
        BenchConfig c =
            config_of({"-c", "4", "-P", "2", "--warmup", "0.2", "--json", "--report", "r.html", "--find-rate"});
        CHECK(c.connections == 4);
        CHECK(c.report == "r.html");
    }
    SUBCASE("bad values") {
        const std::string pct = "is not PCT=MICROSECONDS with PCT one of p50, p90, p99, p999 (e.g. p99=1000)";
        CHECK(error_of({"--find-rate", "--slo", "p95=1000"}) == usage("--slo: 'p95=1000' " + pct));
        CHECK(error_of({"--find-rate", "--slo", "1000"}) == usage("--slo: '1000' " + pct));
        CHECK(error_of({"--find-rate", "--slo", "p99"}) == usage("--slo: 'p99' " + pct));
        CHECK(error_of({"--find-rate", "--slo", "p99=0"}) == usage("--slo: p99: 0 is out of range 1..3600000000"));
        CHECK(error_of({"--find-rate", "--slo", "p99=1ms"}) == usage("--slo: p99: '1ms' is not a whole number"));
        CHECK(error_of({"--find-rate", "--slo", "p99="}).starts_with("echobench: --slo: p99: "));
        CHECK(error_of({"--find-rate", "--step-duration", "0"}).starts_with("echobench: --step-duration: 0 is out"));
        CHECK(error_of({"--find-rate", "--step-duration", "x"}).starts_with("echobench: --step-duration: 'x'"));
        CHECK(error_of({"--find-rate", "--slo"}) == usage("--slo: missing value"));
    }
    SUBCASE("what does not go with it") {
        CHECK(error_of({"--slo", "p99=1000"}) == usage("--slo: only applies with --find-rate"));
        CHECK(error_of({"--step-duration", "1"}) == usage("--step-duration: only applies with --find-rate"));
        CHECK(error_of({"--ping", "--slo", "p99=1"}) == usage("--slo: only applies with --find-rate"));
        CHECK(error_of({"--find-rate", "-n", "100"}) ==
              usage("--messages: does not apply with --find-rate (each step lasts --step-duration)"));
        CHECK(error_of({"-d", "3", "--find-rate"}) ==
              usage("--duration: does not apply with --find-rate (use --step-duration)"));
        CHECK(error_of({"--find-rate", "--histogram-out", "h.json"}) ==
              usage("--histogram-out: does not apply with --find-rate (its --json holds every step's latencies)"));
        CHECK(error_of({"--find-rate", "--ping"}) == usage("--ping: cannot be combined with --find-rate"));
        CHECK(error_of({"--interactive", "--find-rate"}) ==
              usage("--find-rate: cannot be combined with --interactive"));
        CHECK(error_of({"--find-rate", "--merge", "a.json"}) == usage("--merge: cannot be combined with --find-rate"));
        CHECK(error_of({"--report", "c.html", "--compare", "a.json", "--find-rate"}) ==
              usage("--find-rate: cannot be combined with --compare"));
        CHECK(error_of({"--merge", "a.json", "--slo", "p99=1"}) == usage("--slo: does not apply with --merge"));
        CHECK(error_of({"--find-rate", "a.json"}) == usage("unexpected argument 'a.json'"));
        CHECK(error_of({"--find-rate", "-c", "1000", "-P", "1024", "-s", "64MiB"}).starts_with("echobench: --size: "));
    }
    SUBCASE("help") {
        const std::string help = echobench::bench_help_text();
        for (const char* text : {"--find-rate", "--slo PCT=MICROSECONDS", "--step-duration SECONDS",
                                 "(default p99=1000)", "at most 30\n"}) {
            CAPTURE(text);
            CHECK(help.find(text) != std::string::npos);
        }
    }
}
