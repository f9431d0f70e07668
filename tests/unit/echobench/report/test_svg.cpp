// The chart module: scales, nice ticks, labels, and what render() draws.
#include "echobench/report/svg.h"

#include "doctest_include.h"

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace svg = echobench::svg;
using doctest::Approx;

namespace {

constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

std::size_t count_of(std::string_view text, std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

void check_ticks(const std::vector<double>& got, const std::vector<double>& want) {
    CAPTURE(got.size());
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i] == Approx(want[i]).epsilon(1e-12));
    }
}

svg::Series series(std::string label, std::string color, std::vector<svg::Point> points, bool dots = false,
                   std::string css_class = "") {
    return {std::move(label), std::move(color), std::move(points), dots, std::move(css_class)};
}

svg::Band band(double x_lo, double x_hi, std::string label, std::string color = "#000000", double opacity = 0.07) {
    return {x_lo, x_hi, std::move(label), std::move(color), opacity};
}

// 640 x 320 with the default margins: the plot area is x 64..624, y 28..276.
svg::Chart small_chart() {
    svg::Chart chart(640, 320);
    chart.set_x(svg::Chart::Scale::linear, 0, 10, "time (s)");
    chart.set_y(svg::Chart::Scale::linear, 0, 100, "messages/s");
    return chart;
}

}  // namespace

TEST_CASE("LinearScale maps domain onto range") {
    SUBCASE("increasing range") {
        svg::LinearScale s(0, 10, 100, 200);
        CHECK(s(0) == 100);
        CHECK(s(10) == 200);
        CHECK(s(2.5) == 125);
        CHECK(s(-10) == 0);  // outside the domain: extrapolated, not clamped
        CHECK(s.domain_lo() == 0);
        CHECK(s.domain_hi() == 10);
    }
    SUBCASE("inverted range, as for y") {
        svg::LinearScale s(0, 100, 276, 28);
        CHECK(s(0) == 276);
        CHECK(s(100) == 28);
        CHECK(s(50) == 152);
    }
    SUBCASE("degenerate domain maps to the middle") {
        svg::LinearScale s(5, 5, 0, 100);
        CHECK(s(5) == 50);
        CHECK(s(-1e9) == 50);
    }
}

TEST_CASE("LogScale maps log10 of values") {
    SUBCASE("decades are evenly spaced") {
        svg::LogScale s(1, 1e6, 0, 600);
        CHECK(s(1) == Approx(0));
        CHECK(s(1000) == Approx(300));
        CHECK(s(1e6) == Approx(600));
        CHECK(s(10) == Approx(100));
    }
    SUBCASE("inverted range") {
        svg::LogScale s(10, 1000, 200, 0);
        CHECK(s(10) == Approx(200));
        CHECK(s(100) == Approx(100));
        CHECK(s(1000) == Approx(0));
    }
    SUBCASE("values at or below 0 map to range_lo") {
        svg::LogScale s(10, 1000, 200, 0);
        CHECK(s(0) == Approx(200));
        CHECK(s(-5) == Approx(200));
        CHECK(s(-inf) == Approx(200));
    }
    SUBCASE("a domain_lo <= 0 becomes domain_hi / 10, or 1") {
        svg::LogScale s(0, 1000, 0, 100);
        CHECK(s.domain_lo() == Approx(100));
        CHECK(s(100) == Approx(0));
        CHECK(s(1000) == Approx(100));
        svg::LogScale both(-3, 0, 0, 100);
        CHECK(both.domain_lo() == 1);
        CHECK(both.domain_hi() == 10);
        CHECK(std::isfinite(both(5)));
    }
    SUBCASE("degenerate domain maps to the middle") {
        svg::LogScale s(100, 100, 0, 100);
        CHECK(s(100) == 50);
        CHECK(s(7) == 50);
    }
}

TEST_CASE("nice_step picks 1, 2 or 5 x 10^k") {
    CHECK(svg::nice_step(237, 5) == 50);
    CHECK(svg::nice_step(1, 5) == Approx(0.2));
    CHECK(svg::nice_step(3.7e6, 6) == 1e6);
    CHECK(svg::nice_step(10, 5) == 2);
    CHECK(svg::nice_step(100, 10) == 10);
    CHECK(svg::nice_step(100, 1) == 100);
    CHECK(svg::nice_step(101, 1) == 200);
    CHECK(svg::nice_step(0.003, 3) == Approx(0.001));
    CHECK(svg::nice_step(7, 0) == 10);  // max_intervals below 1 counts as 1
    SUBCASE("degenerate spans give 1") {
        CHECK(svg::nice_step(0, 5) == 1);
        CHECK(svg::nice_step(-3, 5) == 1);
        CHECK(svg::nice_step(qnan, 5) == 1);
        CHECK(svg::nice_step(inf, 5) == 1);
    }
}

TEST_CASE("nice_domain widens to ticks") {
    using Domain = std::pair<double, double>;
    SUBCASE("from zero") {
        CHECK(svg::nice_domain(0, 237, 5) == Domain{0, 250});
        CHECK(svg::nice_domain(0, 1, 5) == Domain{0, 1});
        CHECK(svg::nice_domain(0, 3.7e6, 6) == Domain{0, 4e6});
    }
    SUBCASE("negative lo") {
        auto [lo, hi] = svg::nice_domain(-1.3, 10, 5);
        CHECK(lo == -5);
        CHECK(hi == 10);
        auto [lo2, hi2] = svg::nice_domain(-0.27, -0.03, 5);
        CHECK(lo2 == Approx(-0.3));
        CHECK(hi2 == 0);
    }
    SUBCASE("lo == hi") {
        CHECK(svg::nice_domain(5, 5, 5) == Domain{4, 6});
        CHECK(svg::nice_domain(0, 0, 5) == Domain{0, 1});
        CHECK(svg::nice_domain(-3, -3, 5) == Domain{-4, -2});
    }
    SUBCASE("the ends are ticks") {
        for (Domain d : {Domain{0.5, 10.4}, Domain{3, 97}, Domain{-13, 1234}, Domain{0.013, 0.7}}) {
            auto [lo, hi] = d;
            CAPTURE(d.first);  // not lo: clang cannot capture a structured binding
            CAPTURE(d.second);
            auto [nlo, nhi] = svg::nice_domain(lo, hi, 5);
            CHECK(nlo <= lo);
            CHECK(nhi >= hi);
            std::vector<double> ticks = svg::linear_ticks(nlo, nhi, 5);
            REQUIRE(ticks.size() >= 2);
            CHECK(ticks.front() == nlo);
            CHECK(ticks.back() == nhi);
        }
    }
    SUBCASE("reversed or not finite") {
        CHECK(svg::nice_domain(237, 0, 5) == Domain{0, 250});
        CHECK(svg::nice_domain(qnan, 1, 5) == Domain{0, 1});
    }
}

TEST_CASE("linear_ticks") {
    SUBCASE("ends included") {
        check_ticks(svg::linear_ticks(0, 250, 5), {0, 50, 100, 150, 200, 250});
        check_ticks(svg::linear_ticks(0, 1, 5), {0, 0.2, 0.4, 0.6, 0.8, 1});
    }
    SUBCASE("inside a domain that is not nice") {
        check_ticks(svg::linear_ticks(3, 97, 5), {20, 40, 60, 80});
    }
    SUBCASE("exact zero, never -0") {
        std::vector<double> ticks = svg::linear_ticks(-0.3, 0.3, 6);
        check_ticks(ticks, {-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3});
        CHECK_FALSE(std::signbit(ticks[3]));
        CHECK(ticks[3] == 0);
        CHECK(ticks[1] == -0.2);  // exactly, not -0.20000000000000001
    }
    SUBCASE("increasing and at most max_intervals + 1") {
        for (double hi : {1.0, 7.0, 237.0, 999.0, 1e6, 3.7e6}) {
            for (int max = 1; max <= 10; ++max) {
                CAPTURE(hi);
                CAPTURE(max);
                std::vector<double> ticks = svg::linear_ticks(-hi / 3, hi, max);
                REQUIRE_FALSE(ticks.empty());
                CHECK(ticks.size() <= static_cast<std::size_t>(max) + 1);
                for (std::size_t i = 1; i < ticks.size(); ++i) {
                    CHECK(ticks[i] > ticks[i - 1]);
                }
            }
        }
    }
    SUBCASE("degenerate input") {
        check_ticks(svg::linear_ticks(5, 5, 5), {5});
        CHECK(svg::linear_ticks(10, 0, 5).empty());
        CHECK(svg::linear_ticks(qnan, 1, 5).empty());
        CHECK(svg::linear_ticks(0, inf, 5).empty());
        CHECK(svg::linear_ticks(1e17, 1e17, 5).size() == 1);
    }
}

TEST_CASE("log_domain widens to decades") {
    using Domain = std::pair<double, double>;
    CHECK(svg::log_domain(3, 420) == Domain{1, 1000});
    CHECK(svg::log_domain(1, 1e6) == Domain{1, 1e6});
    CHECK(svg::log_domain(0.02, 0.5) == Domain{0.01, 1});
    SUBCASE("lo == hi gives one decade") {
        CHECK(svg::log_domain(300, 300) == Domain{100, 1000});
        CHECK(svg::log_domain(100, 100) == Domain{100, 1000});
    }
    SUBCASE("lo <= 0") {
        CHECK(svg::log_domain(0, 420) == Domain{10, 1000});
        CHECK(svg::log_domain(-1, 1000) == Domain{100, 1000});
        CHECK(svg::log_domain(0, 0) == Domain{1, 10});
        CHECK(svg::log_domain(-5, -1) == Domain{1, 10});
    }
}

TEST_CASE("log_ticks") {
    SUBCASE("decades") {
        check_ticks(svg::log_ticks(1, 1e6), {1, 10, 100, 1e3, 1e4, 1e5, 1e6});
        check_ticks(svg::log_ticks(0.001, 1), {0.001, 0.01, 0.1, 1});
    }
    SUBCASE("fewer than 3 decades add 2x and 5x") {
        check_ticks(svg::log_ticks(3, 40), {5, 10, 20});
        check_ticks(svg::log_ticks(1, 10), {1, 2, 5, 10});
        check_ticks(svg::log_ticks(1, 100), {1, 10, 100});  // 3 decades are enough
        check_ticks(svg::log_ticks(3, 420), {5, 10, 20, 50, 100, 200});
    }
    SUBCASE("lo <= 0 is hi / 10") {
        check_ticks(svg::log_ticks(0, 1000), {100, 200, 500, 1000});
        check_ticks(svg::log_ticks(-1, 1e6), {1e5, 2e5, 5e5, 1e6});
    }
    SUBCASE("nothing to show") {
        CHECK(svg::log_ticks(3, 4).empty());
        CHECK(svg::log_ticks(10, 1).empty());
        CHECK(svg::log_ticks(1, inf).empty());
    }
}

TEST_CASE("format_number") {
    SUBCASE("the header's examples") {
        CHECK(svg::format_number(0, 50000) == "0");
        CHECK(svg::format_number(250000, 50000) == "250k");
        CHECK(svg::format_number(1500000, 500000) == "1.5M");
        CHECK(svg::format_number(0.5, 0.1) == "0.5");
        CHECK(svg::format_number(-2, 1) == "-2");
        CHECK(svg::format_number(1000, 1000) == "1k");
    }
    SUBCASE("decimals follow the step") {
        CHECK(svg::format_number(0.25, 0.05) == "0.25");
        CHECK(svg::format_number(0.3, 0.05) == "0.3");
        CHECK(svg::format_number(0.30000000000000004, 0.1) == "0.3");
        CHECK(svg::format_number(2.5, 2.5) == "2.5");
        CHECK(svg::format_number(0.001, 0.001) == "0.001");
        CHECK(svg::format_number(1.5, 0.5) == "1.5");
        CHECK(svg::format_number(2, 0.5) == "2");
    }
    SUBCASE("units") {
        CHECK(svg::format_number(1.2e9, 1e8) == "1.2G");
        CHECK(svg::format_number(3e9, 1e9) == "3G");
        CHECK(svg::format_number(2.5e6, 5e5) == "2.5M");
        CHECK(svg::format_number(1500, 500) == "1.5k");
        CHECK(svg::format_number(500, 500) == "500");
        CHECK(svg::format_number(1000.5, 0.5) == "1000.5");  // a step too fine for "k"
    }
    SUBCASE("negative") {
        CHECK(svg::format_number(-1500, 500) == "-1.5k");
        CHECK(svg::format_number(-0.2, 0.1) == "-0.2");
        CHECK(svg::format_number(-0.0001, 0.1) == "0");  // never "-0"
        CHECK(svg::format_number(-0.0, 1) == "0");
    }
    SUBCASE("no usable step: 3 significant digits") {
        CHECK(svg::format_number(1.2e9, 0) == "1.2G");
        CHECK(svg::format_number(12345, -1) == "12.3k");
        CHECK(svg::format_number(0.1234, qnan) == "0.123");
        CHECK(svg::format_number(0, 0) == "0");
    }
    SUBCASE("not finite") {
        CHECK(svg::format_number(qnan, 1).empty());
        CHECK(svg::format_number(inf, 1).empty());
    }
}

TEST_CASE("format_latency_us") {
    CHECK(svg::format_latency_us(0.25) == "250ns");
    CHECK(svg::format_latency_us(12) == "12µs");
    CHECK(svg::format_latency_us(1500) == "1.5ms");
    CHECK(svg::format_latency_us(2000000) == "2s");
    SUBCASE("3 significant digits") {
        CHECK(svg::format_latency_us(1.234) == "1.23µs");
        CHECK(svg::format_latency_us(123.456) == "123µs");
        CHECK(svg::format_latency_us(45678) == "45.7ms");
        CHECK(svg::format_latency_us(0.0015) == "1.5ns");
    }
    SUBCASE("rounding crosses a unit") {
        CHECK(svg::format_latency_us(999.7) == "1ms");
        CHECK(svg::format_latency_us(0.9996) == "1µs");
    }
    SUBCASE("edges") {
        CHECK(svg::format_latency_us(0) == "0");
        CHECK(svg::format_latency_us(-12) == "-12µs");
        CHECK(svg::format_latency_us(1) == "1µs");
        CHECK(svg::format_latency_us(qnan).empty());
    }
}

TEST_CASE("format_percentile_axis") {
    CHECK(svg::format_percentile_axis(1) == "0%");
    CHECK(svg::format_percentile_axis(2) == "50%");
    CHECK(svg::format_percentile_axis(10) == "90%");
    CHECK(svg::format_percentile_axis(100) == "99%");
    CHECK(svg::format_percentile_axis(1000) == "99.9%");
    CHECK(svg::format_percentile_axis(1e4) == "99.99%");
    CHECK(svg::format_percentile_axis(1e5) == "99.999%");
    CHECK(svg::format_percentile_axis(1e6) == "99.9999%");
    SUBCASE("between decades") {
        CHECK(svg::format_percentile_axis(5) == "80%");
        CHECK(svg::format_percentile_axis(20) == "95%");
        CHECK(svg::format_percentile_axis(200) == "99.5%");
        CHECK(svg::format_percentile_axis(2000) == "99.95%");
    }
    SUBCASE("edges") {
        CHECK(svg::format_percentile_axis(0.5) == "0%");
        CHECK(svg::format_percentile_axis(inf) == "100%");
        CHECK(svg::format_percentile_axis(qnan).empty());
    }
}

TEST_CASE("escape") {
    CHECK(svg::escape("plain") == "plain");
    CHECK(svg::escape("") == "");
    CHECK(svg::escape(R"(a<b & "c" > 'd')") == "a&lt;b &amp; &quot;c&quot; &gt; &#39;d&#39;");
    CHECK(svg::escape("&amp;") == "&amp;amp;");
    CHECK(svg::escape("12µs") == "12µs");
    SUBCASE("control characters XML cannot hold are dropped") {
        CHECK(svg::escape(std::string("a\0b\x01\x1f", 5)) == "ab");
        CHECK(svg::escape("a\tb\nc\r") == "a\tb\nc\r");
    }
}

TEST_CASE("render draws the chart") {
    svg::Chart chart = small_chart();
    chart.set_title("Throughput <all>");

    SUBCASE("the svg element") {
        chart.set_id("throughput");
        std::string out = chart.render();
        CHECK(out.rfind(R"(<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 320" width="640" height="320")",
                        0) == 0);
        CHECK(out.find(R"(class="chart" id="throughput">)") != std::string::npos);
        CHECK(out.find("</svg>") != std::string::npos);
        CHECK(out.find(R"(<text class="title")") != std::string::npos);
        CHECK(out.find("Throughput &lt;all&gt;") != std::string::npos);
        CHECK(out.find(">time (s)</text>") != std::string::npos);
        CHECK(out.find("rotate(-90") != std::string::npos);
    }
    SUBCASE("one polyline per unbroken stretch") {
        chart.add_series(
            series("a \"b\" & <c>", "#1f77b4", {{0, 1}, {1, 2}, {qnan, 3}, {2, 2}, {3, inf}, {4, 1}, {5, 2}}));
        std::string out = chart.render();
        CHECK(count_of(out, "<polyline") == 3);
        CHECK(count_of(out, "<title>a &quot;b&quot; &amp; &lt;c&gt;</title>") == 3);
        CHECK(out.find(R"(class="series")") != std::string::npos);
        CHECK(count_of(out, "<circle") == 0);
    }
    SUBCASE("a series that is all breaks draws nothing") {
        chart.add_series(series("none", "red", {{qnan, 1}, {1, -inf}}));
        CHECK(count_of(chart.render(), "<polyline") == 0);
    }
    SUBCASE("dots and a css class") {
        chart.add_series(series("d", "#ff7f0e", {{1, 10}, {2, 20}, {qnan, 0}}, true, "p99"));
        std::string out = chart.render();
        CHECK(count_of(out, "<circle") == 2);
        CHECK(out.find(R"(class="series p99")") != std::string::npos);
    }
    SUBCASE("dots without the line") {
        svg::Series marks = series("m", "#2ca02c", {{1, 10}, {2, 20}, {3, 30}}, true);
        marks.line = false;
        chart.add_series(marks);
        std::string out = chart.render();
        CHECK(count_of(out, "<circle") == 3);
        CHECK(count_of(out, "<polyline") == 0);
    }
    SUBCASE("a point lands where the scales say") {
        chart.add_series(series("s", "black", {{5, 50}, {2.5, 25}}));
        svg::LinearScale sx(0, 10, 64, 624);
        svg::LinearScale sy(0, 100, 276, 28);
        REQUIRE(sx(5) == 344);
        REQUIRE(sy(50) == 152);
        REQUIRE(sx(2.5) == 204);
        REQUIRE(sy(25) == 214);
        CHECK(chart.render().find(R"(points="344,152 204,214")") != std::string::npos);
    }
    SUBCASE("a log axis places points by decade") {
        chart.set_x(svg::Chart::Scale::log, 1, 1e6, "percentile", svg::format_percentile_axis);
        chart.add_series(series("s", "black", {{1000, 50}, {0, 50}}));
        std::string out = chart.render();
        CHECK(out.find(R"(points="344,152 64,152")") != std::string::npos);
        CHECK(out.find(">99.9%</text>") != std::string::npos);
        CHECK(out.find(">99.9999%</text>") != std::string::npos);
        CHECK(out.find(">0%</text>") != std::string::npos);
    }
    SUBCASE("default tick labels") {
        std::string out = chart.render();
        for (const char* label : {">0<", ">2<", ">10<", ">20<", ">100<"}) {
            CAPTURE(label);
            CHECK(out.find(label) != std::string::npos);
        }
        chart.set_y(svg::Chart::Scale::log, 1, 1e6, "count");
        out = chart.render();
        for (const char* label : {">1<", ">10<", ">1k<", ">1M<"}) {
            CAPTURE(label);
            CHECK(out.find(label) != std::string::npos);
        }
    }
    SUBCASE("explicit ticks outside the domain are dropped") {
        chart.set_x(svg::Chart::Scale::linear, 0, 10, "x", {}, {0, 2.5, 5, 7.5, 10, 12.5, qnan});
        std::string out = chart.render();
        CHECK(out.find(">2.5<") != std::string::npos);
        CHECK(out.find(">7.5<") != std::string::npos);
        CHECK(out.find(">12.5<") == std::string::npos);
    }
    SUBCASE("a labeler names the ticks") {
        chart.set_y(svg::Chart::Scale::linear, 0, 2000, "latency", svg::format_latency_us);
        std::string out = chart.render();
        CHECK(out.find(">1.5ms<") != std::string::npos);
        CHECK(out.find(">500µs<") != std::string::npos);
    }
    SUBCASE("bands and marks, clamped and labelled") {
        chart.add_band(band(-5, 5, "warm-up", "#888888", 0.1));
        chart.add_band(band(20, 30, "outside", "#888888", 0.1));
        chart.add_mark({7.5, "p99 <1ms>"});
        chart.add_mark({-1, "left of the axis"});
        chart.add_mark({qnan, "nowhere"});
        std::string out = chart.render();
        CHECK(count_of(out, R"(class="band")") == 1);
        CHECK(out.find(R"(<rect x="64" y="28" width="280" height="248")") != std::string::npos);
        CHECK(out.find(">warm-up</text>") != std::string::npos);
        CHECK(out.find("outside") == std::string::npos);
        CHECK(count_of(out, R"(class="mark")") == 1);
        CHECK(out.find(R"(x1="484")") != std::string::npos);
        CHECK(out.find(">p99 &lt;1ms&gt;</text>") != std::string::npos);
        CHECK(out.find("left of the axis") == std::string::npos);
    }
    SUBCASE("a band too narrow for its label is drawn without it") {
        chart.add_band(band(0, 0.2, "connecting"));  // 11 px of 560
        chart.add_band(band(0.2, 5, "warm-up"));
        std::string out = chart.render();
        CHECK(count_of(out, R"(class="band")") == 2);
        CHECK(out.find("connecting") == std::string::npos);
        CHECK(out.find(">warm-up</text>") != std::string::npos);
    }
    SUBCASE("draw order: grid, bands, marks, series, axes") {
        chart.add_band(band(1, 2, "b"));
        chart.add_mark({3, "m"});
        chart.add_series(series("s", "black", {{0, 0}, {1, 1}}));
        std::string out = chart.render();
        std::size_t grid = out.find(R"(class="grid")");
        std::size_t band = out.find(R"(class="band")");
        std::size_t mark = out.find(R"(class="mark")");
        std::size_t series = out.find("<polyline");
        std::size_t axis = out.find(R"(class="axis")");
        std::size_t tick = out.find(R"(class="tick")");
        REQUIRE(tick != std::string::npos);
        CHECK(grid < band);
        CHECK(band < mark);
        CHECK(mark < series);
        CHECK(series < axis);
        CHECK(axis < tick);
    }
    SUBCASE("no qnan or inf, whatever the input") {
        chart.set_x(svg::Chart::Scale::log, -1, 0, "x");
        chart.set_y(svg::Chart::Scale::linear, 3, 3, "y");
        chart.add_series(series("s", "black", {{qnan, qnan}, {inf, -inf}, {1e300, -1e300}, {0, 3}, {1, 3}}, true));
        chart.add_band(band(-inf, inf, "all", "#000", qnan));
        chart.add_mark({inf, "m"});
        std::string out = chart.render();
        CHECK(out.find("nan") == std::string::npos);
        CHECK(out.find("inf") == std::string::npos);
        CHECK(out.find("NaN") == std::string::npos);
    }
    SUBCASE("deterministic") {
        chart.add_series(series("s", "black", {{0, 1}, {3, 40}, {7, 90}}, true));
        chart.add_band(band(0, 1, "warm-up"));
        chart.add_mark({5, "p50"});
        CHECK(chart.render() == chart.render());
        svg::Chart twin = small_chart();
        twin.set_title("Throughput <all>");
        twin.add_series(series("s", "black", {{0, 1}, {3, 40}, {7, 90}}, true));
        twin.add_band(band(0, 1, "warm-up"));
        twin.add_mark({5, "p50"});
        CHECK(twin.render() == chart.render());
    }
}

TEST_CASE("the clipPath id comes from the chart's id") {
    svg::Chart chart = small_chart();
    chart.add_series(series("s", "black", {{0, 0}, {1, 1}}));
    SUBCASE("as given") {
        chart.set_id("p99-2");
        std::string out = chart.render();
        CHECK(out.find(R"(class="chart" id="p99-2">)") != std::string::npos);
        CHECK(out.find(R"(<clipPath id="p99-2-plot">)") != std::string::npos);
        CHECK(out.find(R"~(clip-path="url(#p99-2-plot)")~") != std::string::npos);
    }
    SUBCASE("made safe") {
        chart.set_id("lat ency\"<");
        std::string out = chart.render();
        CHECK(out.find(R"(id="lat_ency__")") != std::string::npos);
        CHECK(out.find(R"(<clipPath id="lat_ency__-plot">)") != std::string::npos);
    }
}

TEST_CASE("dots as crosses") {
    svg::Chart chart = small_chart();
    svg::Series fails = series("fail", "#d62728", {{1, 10}, {2, 20}, {qnan, 1}}, true, "fail");
    fails.line = false;
    fails.marker = svg::Series::Marker::cross;
    chart.add_series(fails);
    chart.add_series(series("pass", "#2ca02c", {{3, 30}}, true));
    const std::string out = chart.render();
    CHECK(count_of(out, "<circle") == 1);  // the passing point only
    CHECK(count_of(out, R"(<path d="M)") == 2);
    CHECK(count_of(out, R"(stroke="#d62728")") == 2);
    CHECK(count_of(out, "<polyline") == 1);
}
