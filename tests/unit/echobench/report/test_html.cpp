#include "echobench/report/html.h"

#include "../sample_run.h"
#include "doctest_include.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

using echobench::BenchResult;
using echobench::ReportRun;

namespace {

BenchResult run_of(std::uint32_t connections, std::uint64_t messages, double duration) {
    return echobench_test::sample_run(20000, messages, connections, duration);
}

std::size_t count(std::string_view text, std::string_view what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) {
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("the page is self-contained") {
    const std::vector<ReportRun> runs = {{"127.0.0.1:7007", run_of(4, 3000, 2)}};
    std::string page = echobench::format_html_report(runs);
    CHECK(page.starts_with("<!DOCTYPE html>\n<html"));
    CHECK(page.ends_with("</html>\n"));
    // Nothing to fetch: no scripts, stylesheets, fonts or images from elsewhere.
    for (const char* outside : {"<script", "<link", "@import", "<img", "<iframe", "https:"}) {
        CAPTURE(outside);
        CHECK(page.find(outside) == std::string::npos);
    }
    // url() only for the charts' clip paths, inside the page.
    CHECK(count(page, "url(") == count(page, "url(#"));
    // The one "http:" is the SVG namespace, an identifier that is never fetched.
    CHECK(count(page, "http:") == count(page, "xmlns=\"http://www.w3.org/2000/svg\""));
    CHECK(page == echobench::format_html_report(runs));  // no clock, no randomness
}

TEST_CASE("charts, parameters and results of one run") {
    const std::vector<ReportRun> runs = {{"127.0.0.1:7007", run_of(4, 3000, 2)}};
    std::string page = echobench::format_html_report(runs);
    for (const char* id : {R"(id="throughput-1")", R"(id="p99-1")", R"(id="connections-1")", R"(id="spectrum-1")"}) {
        CAPTURE(id);
        CHECK(count(page, id) == 1);
    }
    CHECK(page.find("warm-up") != std::string::npos);
    CHECK(page.find("4 connections × 64B messages × pipeline 1, closed loop") != std::string::npos);
    CHECK(page.find("2026-11-30T01:00:00Z") != std::string::npos);
    CHECK(page.find("<td>0.1.0</td>") != std::string::npos);
    CHECK(page.find("1,500 msgs/s") != std::string::npos);  // 3000 in 2 s
    CHECK(page.find("<td>1,500</td>") != std::string::npos);
    for (const char* mark : {"p50", "p90", "p99", "p99.9", "p99.99", "max"}) {
        CAPTURE(mark);
        CHECK(page.find(std::string(">") + mark + "<") != std::string::npos);
    }
    CHECK(page.find("Echo mismatch") == std::string::npos);
    CHECK(page.find(R"(class="alert)") == std::string::npos);
}

TEST_CASE("a long run is drawn in spans of seconds, and the page stays small") {
    // A day: 86,400 samples would be 2 points each in 3 charts.
    const std::vector<ReportRun> day = {{"127.0.0.1:7007", run_of(4, 3000, 86400 - 1.25)}};
    std::string page = echobench::format_html_report(day);
    CHECK(page.find("Throughput, the mean of each 144 s") != std::string::npos);  // 86,400 / 600
    CHECK(page.find("p99 latency per second, the highest in each 144 s") != std::string::npos);
    CHECK(page.find("Connections open, the most in each 144 s") != std::string::npos);
    CHECK(page.size() < 200 * 1024);
    // A short run: a step per second, as titled.
    const std::vector<ReportRun> short_run = {{"127.0.0.1:7007", run_of(4, 3000, 2)}};
    std::string short_page = echobench::format_html_report(short_run);
    CHECK(short_page.find("Throughput per second") != std::string::npos);
    CHECK(short_page.find("the mean of each") == std::string::npos);
}

TEST_CASE("a mismatch is loud, other errors are shown") {
    BenchResult r = run_of(4, 3000, 2);
    r.errors.mismatch = 3;
    r.errors.mismatch_reason = "connection 1 message 7: echoed bytes differ from those sent";
    r.errors.broken = 1;
    const std::vector<ReportRun> runs = {{"srv", r}};
    std::string page = echobench::format_html_report(runs);
    CHECK(page.find(R"(<div class="alert bad" role="alert"><h2>Echo mismatch</h2>)") != std::string::npos);
    CHECK(page.find("<strong>srv: 3 message(s) echoed wrong (first: connection 1 message 7") != std::string::npos);
    CHECK(page.find("connection 1 message 7") != std::string::npos);
    CHECK(page.find(R"(<div class="alert warn")") != std::string::npos);
    CHECK(page.find("1 connection(s) broke") != std::string::npos);
    CHECK(page.find(R"(<td class="bad">3</td>)") != std::string::npos);
}

TEST_CASE("runs of one load share a section, other loads get their own") {
    BenchResult a = run_of(4, 3000, 2);
    BenchResult b = run_of(4, 2000, 2);
    BenchResult c = run_of(50, 9000, 2);
    SUBCASE("before and after") {
        const std::vector<ReportRun> runs = {{"before", a}, {"after", b}};
        std::string page = echobench::format_html_report(runs);
        CHECK(count(page, "<section>") == 1);
        CHECK(count(page, R"(id="spectrum-1")") == 1);
        CHECK(page.find("<title>echobench: before vs after</title>") != std::string::npos);
        // Both in the legend, in their colours.
        CHECK(page.find(R"(style="background:#1f77b4"></span>before)") != std::string::npos);
        CHECK(page.find(R"(style="background:#ff7f0e"></span>after)") != std::string::npos);
    }
    SUBCASE("a matrix: one section per load, in the order given") {
        const std::vector<ReportRun> runs = {{"small-echod", a}, {"many-echod", c}, {"small-floor", b}};
        std::string page = echobench::format_html_report(runs);
        CHECK(count(page, "<section>") == 2);
        // Every chart has an id of its own, and so its clip path.
        CHECK(count(page, R"(id="spectrum-1")") == 1);
        CHECK(count(page, R"(id="spectrum-2")") == 1);
        CHECK(count(page, R"(<clipPath id="throughput-2-plot">)") == 1);
        auto small = page.find("4 connections ×");
        auto many = page.find("50 connections ×");
        REQUIRE(small != std::string::npos);
        REQUIRE(many != std::string::npos);
        CHECK(small < many);
        // small-floor joins the first section, though it comes after many-echod.
        CHECK(page.find("small-floor") < many);
        // Colours go by place in the section: each section's first run is blue.
        CHECK(page.find(R"(style="background:#1f77b4"></span>many-echod)") != std::string::npos);
        CHECK(page.find(R"(style="background:#ff7f0e"></span>small-floor)") != std::string::npos);
    }
    SUBCASE("many runs: the title counts them") {
        const std::vector<ReportRun> runs = {{"a", a}, {"b", b}, {"c", c}, {"d", a}};
        CHECK(echobench::format_html_report(runs).find("<title>echobench: 4 runs compared</title>") !=
              std::string::npos);
    }
}

TEST_CASE("labels and targets are escaped") {
    BenchResult r = run_of(1, 10, 1);
    r.target = "<b>&";
    const std::vector<ReportRun> runs = {{"a<\"b\">&c", r}};
    std::string page = echobench::format_html_report(runs);
    CHECK(page.find("a<\"b\"") == std::string::npos);
    CHECK(page.find("a&lt;&quot;b&quot;&gt;&amp;c") != std::string::npos);
    CHECK(page.find("<b>&") == std::string::npos);
}

TEST_CASE("runs without a timeline or without echoes still make a page") {
    BenchResult old = run_of(4, 3000, 2);
    old.timeline.clear();
    BenchResult empty = run_of(4, 0, 2);
    empty.latency.reset();
    SUBCASE("no timeline: a note instead of the time charts") {
        const std::vector<ReportRun> runs = {{"old", old}};
        std::string page = echobench::format_html_report(runs);
        CHECK(page.find(R"(id="throughput-1")") == std::string::npos);
        CHECK(page.find("No per-second timeline") != std::string::npos);
        CHECK(page.find(R"(id="spectrum-1")") != std::string::npos);
    }
    SUBCASE("nothing echoed: no spectrum, said so") {
        const std::vector<ReportRun> runs = {{"empty", empty}};
        std::string page = echobench::format_html_report(runs);
        CHECK(page.find(R"(id="spectrum-1")") == std::string::npos);
        CHECK(page.find("nothing was echoed") != std::string::npos);
    }
}

TEST_CASE("a merged run has no p99 per second, and the page says why") {
    BenchResult merged = run_of(8, 3000, 2);
    merged.runs = 2;
    for (echobench::TimelineSample& s : merged.timeline) {
        s.p99_ns.reset();  // as --merge writes them
    }
    const std::vector<ReportRun> runs = {{"merged", merged}};
    std::string page = echobench::format_html_report(runs);
    CHECK(page.find(R"(id="throughput-1")") != std::string::npos);
    CHECK(page.find(R"(id="p99-1")") == std::string::npos);
    CHECK(page.find("merged runs have none") != std::string::npos);
    CHECK(page.find("no second with echoes") == std::string::npos);
}

TEST_CASE("report_label: the file's name without .json") {
    CHECK(echobench::report_label("runs/before.json") == "before");
    CHECK(echobench::report_label("a.json") == "a");
    CHECK(echobench::report_label("/tmp/x/small-echod.json") == "small-echod");
    CHECK(echobench::report_label("run.txt") == "run.txt");
    CHECK(echobench::report_label(".json") == ".json");
}

TEST_CASE("churn: the connect latency spectrum and the connects table, only with connects") {
    BenchResult kept = run_of(4, 3000, 2);
    std::string page = echobench::format_html_report(std::vector<ReportRun>{{"kept", kept}});
    CHECK(page.find("connect-spectrum") == std::string::npos);
    CHECK(page.find("New connections") == std::string::npos);

    BenchResult churn = run_of(4, 3000, 2);
    churn.messages_per_connection = 1;
    churn.connects = 3000;
    for (int i = 0; i < 3000; ++i) {
        churn.connect_latency.record(15000 + static_cast<std::uint64_t>(i) * 10);
    }
    page = echobench::format_html_report(std::vector<ReportRun>{{"churn", churn}});
    CHECK(count(page, R"(id="connect-spectrum-1")") == 1);
    CHECK(count(page, R"(id="spectrum-1")") == 1);
    CHECK(page.find("Connect latency by percentile") != std::string::npos);
    CHECK(page.find("4 connections × 64B messages × pipeline 1, closed loop, a new connection every 1 message") !=
          std::string::npos);
    CHECK(page.find("<caption>New connections (measured window)</caption>") != std::string::npos);
    CHECK(page.find("<td>3,000</td><td>1,500</td>") != std::string::npos);  // connects, connects/s
    // Churn and kept connections are different loads: a section each.
    page = echobench::format_html_report(std::vector<ReportRun>{{"kept", kept}, {"churn", churn}});
    CHECK(count(page, "<section>") == 2);
    CHECK(count(page, R"(id="connect-spectrum-2")") == 1);
    CHECK(page.find(R"(id="connect-spectrum-1")") == std::string::npos);
}

namespace {

echobench::FindRateStep find_rate_step(double rate, std::uint64_t first_ns, bool pass) {
    echobench::FindRateStep step;
    step.rate = rate;
    step.pass = pass;
    step.result = echobench_test::sample_run(first_ns, static_cast<std::uint64_t>(rate), 4, 1);
    step.result.rate = rate;
    return step;
}

echobench::FindRateResult find_rate_search() {
    echobench::FindRateResult s;
    s.slo = {"p99", 99, 1000};
    s.target = "127.0.0.1:7007";
    s.connections = 4;
    s.threads = 1;
    s.size = 64;
    s.pipeline = 1;
    s.warmup_s = 1;
    s.step_duration_s = 1;
    s.version = "0.1.0";
    s.started_at = "2026-12-01T18:00:00Z";
    s.steps = {find_rate_step(1000, 20000, true), find_rate_step(2000, 2000000, false),
               find_rate_step(1500, 30000, true)};
    s.max_rate = 1500;
    s.stop = "converged";
    return s;
}

}  // namespace

TEST_CASE("--find-rate's page: latency against rate, passing and failing told apart, the SLO as a line") {
    const echobench::FindRateResult search = find_rate_search();
    const std::string page = echobench::format_find_rate_report(search);
    CHECK(page.starts_with("<!DOCTYPE html>\n<html"));
    CHECK(page.ends_with("</html>\n"));
    CHECK(count(page, R"(id="find-rate-1")") == 1);
    const std::string chart = page.substr(page.find(R"(id="find-rate-1")"));
    const std::string svg_only = chart.substr(0, chart.find("</svg>"));
    CHECK(count(svg_only, "<circle") == 2);        // two passing steps: dots
    CHECK(count(svg_only, R"(<path d="M)") == 1);  // one failing: a cross
    CHECK(count(svg_only, R"(class="series slo")") == 1);
    CHECK(svg_only.find("<title>SLO p99 &lt;= 1.00ms</title>") != std::string::npos);
    CHECK(svg_only.find("achieved messages/s") != std::string::npos);
    // The steps' table and the highest passing step in full.
    CHECK(page.find("<caption>Steps, in the order they ran</caption>") != std::string::npos);
    CHECK(count(page, "<td class=\"pass\">pass</td>") == 2);
    CHECK(page.find("fail: p99 ") != std::string::npos);
    CHECK(page.find("The highest passing step: step 3 (1500.0 msgs/s)") != std::string::npos);
    CHECK(count(page, R"(id="throughput-1")") == 1);
    CHECK(page.find("max rate 1,500 msgs/s") != std::string::npos);
    CHECK(page == echobench::format_find_rate_report(search));
    SUBCASE("no passing step: no step section, max rate none") {
        echobench::FindRateResult failed = search;
        failed.steps.resize(1);
        failed.steps[0].pass = false;
        failed.max_rate.reset();
        const std::string none = echobench::format_find_rate_report(failed);
        CHECK(none.find("max rate none") != std::string::npos);
        CHECK(none.find("throughput-1") == std::string::npos);
        CHECK(none.find(R"(id="find-rate-1")") != std::string::npos);
    }
    SUBCASE("no step at all still makes a page") {
        echobench::FindRateResult empty = search;
        empty.steps.clear();
        empty.max_rate.reset();
        const std::string none = echobench::format_find_rate_report(empty);
        CHECK(none.find("No step ran.") != std::string::npos);
        CHECK(none.ends_with("</html>\n"));
    }
}
