// --histogram-out documents and --merge.
#include "doctest_include.h"

#include "echobench/results/merge.h"
#include "echobench/results/result.h"

#include "../sample_run.h"

#include <string>
#include <vector>

namespace {

echobench::BenchResult read_back(const echobench::BenchResult& r) {
    echobench::BenchResult back;
    std::string error = echobench::parse_histogram_document(echobench::format_histogram_document(r), back);
    INFO(error);
    REQUIRE(error.empty());
    return back;
}

}  // namespace

TEST_CASE("--histogram-out document: the --json object plus the histogram") {
    echobench::BenchResult r = echobench_test::sample_run(10000, 5000, 4, 2.0);
    std::string doc = echobench::format_histogram_document(r);
    std::string json = echobench::format_json(r);
    // The same object, with one more field at the end.
    CHECK(doc.starts_with(json.substr(0, json.size() - 2)));
    CHECK(doc.find(R"(, "histogram": {"unit": "ns", )") != std::string::npos);
    CHECK(doc.ends_with("]}}\n"));
    echobench::BenchResult back = read_back(r);
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
    CHECK(echobench::format_histogram_document(back) == doc);

    SUBCASE("refused: not ours, inconsistent, broken") {
        auto refused = [](const std::string& text) {
            echobench::BenchResult out;
            return echobench::parse_histogram_document(text, out);
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
        CHECK(refused(with(R"("sent_bytes": 0)", R"("sent_bytes": -1)")) ==
              R"("sent_bytes" is not a whole number in range)");
        CHECK(refused(with(R"("rate": null)", R"("rate": 5)")) == R"("rate" is neither null nor an object)");
        CHECK(refused(with(R"("bucket_count": 3840)", R"("bucket_count": 2048)")).find("layout") != std::string::npos);
        CHECK(refused(with(R"("timeline": [)", R"("timeline": {)")).starts_with("not JSON"));
        CHECK(refused(with(R"({"t": 1, )", R"({"t": 2, )")) == "timeline[1]: not the sample of second 1");
        // Only the last sample may be longer than a second: a short fragment is folded into it.
        CHECK(refused(with(R"({"t": 2, "dt": 1.000)", R"({"t": 2, "dt": 1.011)")) ==
              "timeline[2]: not the sample of second 2");
        CHECK(refused(with(R"({"t": 3, "dt": 0.250)", R"({"t": 3, "dt": 1.249)")).empty());
        CHECK(refused(with(R"({"t": 3, "dt": 0.250)", R"({"t": 3, "dt": 1.251)")) ==
              "timeline[3]: not the sample of second 3");
        CHECK(refused(with(R"("p99_us": 11.0)", R"("p99_us": "11")")) ==
              R"(timeline[1]: "p99_us" is neither null nor a number of 0 or more)");
        CHECK(refused(with(R"("phases": {)", R"("phases": {"x": 1, )")).empty());  // more fields may come
        CHECK(refused(with(R"("window_end_s": 3.250)", R"("window_end": 3.250)")) == R"(phases: no "window_end_s")");
    }
    SUBCASE("files from before the timeline still read") {
        echobench::BenchResult old = r;
        old.timeline.clear();
        std::string text = echobench::format_histogram_document(old);
        for (const char* field : {R"("version": "0.1.0", )", R"("started_at": "2026-11-30T01:00:00Z", )",
                                  R"("phases": {"warmup_start_s": 0.250, "window_start_s": 1.250, )"
                                  R"("window_end_s": 3.250}, )",
                                  R"("timeline": [], )"}) {
            auto at = text.find(field);
            REQUIRE(at != std::string::npos);
            text.erase(at, std::string_view(field).size());
        }
        echobench::BenchResult out;
        CHECK(echobench::parse_histogram_document(text, out).empty());
        CHECK(out.timeline.empty());
        CHECK(out.version.empty());
    }
}

TEST_CASE("--merge: sums, the longest window, percentiles of every sample") {
    echobench::BenchResult a = echobench_test::sample_run(10000, 30000, 10, 10.0);
    echobench::BenchResult b = echobench_test::sample_run(50000, 10000, 5, 9.5);
    a.sent_bytes = 30000 * 64 + 6400;  // and the warm-up's
    b.sent_bytes = 10000 * 64 + 320;
    b.target = "10.0.0.2:7007";
    b.pipeline = 4;
    b.errors.broken = 1;
    std::vector<echobench::BenchResult> runs = {read_back(a), read_back(b)};
    std::vector<std::string> names = {"a.json", "b.json"};
    echobench::BenchResult m;
    REQUIRE(echobench::merge_runs(runs, names, m).empty());
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
    CHECK(m.sent_bytes == 40000 * 64 + 6720);
    CHECK(m.target == "127.0.0.1:7007, 10.0.0.2:7007");
    CHECK(echobench::exit_status(m) == 1);
    CHECK(m.version == "0.1.0");
    CHECK(m.window_end_s == 11.25);
    REQUIRE(m.timeline.size() == 12);  // a's 11.25 s
    CHECK(m.timeline[0].msgs == a.timeline[0].msgs + b.timeline[0].msgs);
    CHECK(m.timeline[0].connections == 15);
    CHECK_FALSE(m.timeline[0].p99_ns.has_value());
    CHECK(m.timeline[11].msgs == a.timeline[11].msgs);
    echobench::Histogram all = a.latency;
    all.merge(b.latency);
    CHECK(m.latency.count() == all.count());
    CHECK(m.latency.min() == all.min());
    CHECK(m.latency.max() == all.max());
    for (double q : {50.0, 90.0, 99.0, 99.9}) {
        CHECK(m.latency.percentile(q) == all.percentile(q));
    }
    std::string json = echobench::format_json(m);
    CHECK(json.find(R"("runs": 2)") != std::string::npos);
    CHECK(echobench::format_table(m).starts_with("echobench: 2 runs merged"));

    SUBCASE("merges compose") {
        echobench::BenchResult again = read_back(m);
        CHECK(again.runs == 2);
        std::vector<echobench::BenchResult> one = {again};
        echobench::BenchResult m2;
        REQUIRE(echobench::merge_runs(one, names, m2).empty());
        CHECK(echobench::format_histogram_document(m2) == echobench::format_histogram_document(again));
    }
    SUBCASE("a file from before sent_bytes: the merge's is unknown (null), not a partial sum") {
        std::string text = echobench::format_histogram_document(b);
        const std::string field = R"("sent_bytes": 640320, )";
        auto at = text.find(field);
        REQUIRE(at != std::string::npos);
        text.erase(at, field.size());
        REQUIRE(echobench::parse_histogram_document(text, runs[1]).empty());
        CHECK_FALSE(runs[1].sent_bytes.has_value());
        REQUIRE(echobench::merge_runs(runs, names, m).empty());
        CHECK_FALSE(m.sent_bytes.has_value());
        CHECK(echobench::format_json(m).find(R"("sent_bytes": null, )") != std::string::npos);
    }
    SUBCASE("a different message size is refused, naming the file") {
        runs[1].size = 1024;
        CHECK(echobench::merge_runs(runs, names, m) == "b.json: message size 1KiB differs from a.json's 64B");
    }
    SUBCASE("open and closed loop do not mix") {
        runs[1].rate = 1000;
        CHECK(echobench::merge_runs(runs, names, m).starts_with("b.json: an open-loop run, but a.json is closed-loop"));
    }
}

namespace {

// sample_run with churn: connects new connections in the window, with
// connect latencies spread over [first, first + 50 us).
echobench::BenchResult churn_run(std::uint64_t first, std::uint64_t connects, double duration) {
    echobench::BenchResult r = echobench_test::sample_run(10000, 2 * connects, 4, duration);
    r.messages_per_connection = 2;
    r.connects = connects;
    for (std::uint64_t i = 0; i < connects; ++i) {
        r.connect_latency.record(first + (i * 7919) % 50000);
    }
    return r;
}

}  // namespace

TEST_CASE("churn: connects and their histogram, written, read back and merged exactly") {
    echobench::BenchResult a = churn_run(20000, 3000, 2.0);
    std::string doc = echobench::format_histogram_document(a);
    CHECK(doc.find(R"("connects": 3000, "connects_per_sec": 1500.0, "connect_latency_us": {"min": 20.0, )") !=
          std::string::npos);
    CHECK(doc.find(R"("messages_per_connection": 2)") != std::string::npos);
    CHECK(doc.find(R"(, "connect_histogram": {"unit": "ns", )") != std::string::npos);
    echobench::BenchResult back = read_back(a);
    CHECK(back.connects == 3000);
    CHECK(back.connects_per_sec() == 1500.0);
    CHECK(back.messages_per_connection == 2);
    CHECK(back.connect_latency.count() == 3000);
    CHECK(back.connect_latency.percentile(99) == a.connect_latency.percentile(99));
    CHECK(echobench::format_histogram_document(back) == doc);

    echobench::BenchResult b = churn_run(70000, 1000, 4.0);
    std::vector<echobench::BenchResult> runs = {back, read_back(b)};
    std::vector<std::string> names = {"a.json", "b.json"};
    echobench::BenchResult m;
    REQUIRE(echobench::merge_runs(runs, names, m).empty());
    CHECK(m.connects == 4000);
    CHECK(m.connects_per_sec() == doctest::Approx(1500.0 + 250.0));
    CHECK(m.messages_per_connection == 2);
    echobench::Histogram all = a.connect_latency;
    all.merge(b.connect_latency);
    REQUIRE(m.connect_latency.count() == all.count());
    for (double q : {0.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
        CHECK(m.connect_latency.percentile(q) == all.percentile(q));
    }
    // The merge written and read again keeps it all.
    echobench::BenchResult again = read_back(m);
    CHECK(again.connects_per_sec() == doctest::Approx(1750.0));
    CHECK(again.connect_latency.percentile(99.9) == all.percentile(99.9));

    SUBCASE("files from before churn merge as runs without connects") {
        std::string text = echobench::format_histogram_document(echobench_test::sample_run(10000, 500, 2, 1.0));
        for (const char* field : {R"("connects": 0, "connects_per_sec": 0.0, "connect_latency_us": null, )"
                                  R"("messages_per_connection": 0, )",
                                  R"(, "connect_histogram": {"unit": "ns", "sub_bucket_bits": 7, )"
                                  R"("max_value": 68719476735, "bucket_count": 3840, "count": 0, "min": 0, )"
                                  R"("max": 0, "saturated": 0, "sum": 0, "buckets": []})"}) {
            auto at = text.find(field);
            REQUIRE(at != std::string::npos);
            text.erase(at, std::string_view(field).size());
        }
        CHECK(text.find("\"connect_") == std::string::npos);  // no churn field left
        CHECK(text.find("\"connects") == std::string::npos);
        echobench::BenchResult old;
        REQUIRE(echobench::parse_histogram_document(text, old).empty());
        CHECK(old.connects == 0);
        CHECK(old.connect_latency.count() == 0);
        std::vector<echobench::BenchResult> mixed = {old, back};
        REQUIRE(echobench::merge_runs(mixed, names, m).empty());
        CHECK(m.connects == 3000);
        CHECK(m.connect_latency.count() == 3000);
    }
    SUBCASE("refused: a connect histogram that does not add up, or missing") {
        auto refused = [&doc](const std::string& from, const std::string& to) {
            std::string text = doc;
            auto at = text.find(from);
            REQUIRE(at != std::string::npos);
            echobench::BenchResult out;
            return echobench::parse_histogram_document(text.replace(at, from.size(), to), out);
        };
        CHECK(refused(R"("connects": 3000)", R"("connects": 3001)") ==
              R"(the connect histogram holds 3000 values but "connects" is 3001)");
        CHECK(refused(R"("connect_histogram")", R"("connect_hist")") == R"("connects" without "connect_histogram")");
        CHECK(refused(R"("connects_per_sec": 1500.0)", R"("connects_per_sec": -1)") ==
              R"("connects_per_sec" is not a number of 0 or more)");
    }
}
