#include "echobench/report/html.h"

#include "common/parse.h"
#include "echobench/report/svg.h"
#include "echobench/results/timeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string_view>

namespace echobench {
namespace {

using svg::Chart;
using svg::escape;

constexpr double chart_width = 900;
constexpr double chart_height = 250;
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
// A time chart draws at most this many steps per run (900 px wide): a
// longer run is drawn with each step covering several seconds, which keeps
// a day-long run's page small.
constexpr std::size_t max_steps = 600;

// The marks of the spectrum: where p50 ... p99.99 sit on the 1/(1-p) axis.
struct PercentileMark {
    double q;  // percent
    const char* label;
};
constexpr PercentileMark spectrum_marks[] = {
    {50, "p50"}, {90, "p90"}, {99, "p99"}, {99.9, "p99.9"}, {99.99, "p99.99"},
};

// Runs that share a load share a section's axes.
bool same_load(const BenchResult& a, const BenchResult& b) {
    return a.connections == b.connections && a.size == b.size && a.pipeline == b.pipeline && a.rate == b.rate &&
           a.messages_per_connection == b.messages_per_connection;
}

std::string load_title(const BenchResult& r) {
    return fmt::format("{} connection{} × {} messages × pipeline {}, {}{}", r.connections,
                       r.connections == 1 ? "" : "s", common::format_size(r.size), r.pipeline,
                       r.rate > 0 ? fmt::format("open loop at {:.0f} msgs/s", r.rate) : std::string("closed loop"),
                       r.messages_per_connection > 0
                           ? fmt::format(", a new connection every {} message{}", r.messages_per_connection,
                                         r.messages_per_connection == 1 ? "" : "s")
                           : std::string());
}

// 1234567.8 -> "1,234,568": rates for people.
std::string thousands(double value) {
    std::string digits = fmt::format("{:.0f}", std::isfinite(value) ? value : 0.0);
    std::string out;
    std::size_t first = digits.starts_with('-') ? 1 : 0;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > first && (digits.size() - i) % 3 == 0) {
            out += ',';
        }
        out += digits[i];
    }
    return out;
}

std::string us_text(std::uint64_t ns) {
    return escape(format_latency(ns));
}

// One section: the runs (indices into the page's runs) of one load.
class Section {
public:
    // number: 1 for the page's first section, for the charts' ids.
    Section(std::span<const ReportRun> runs, std::vector<std::size_t> members, std::size_t number);

    std::string render() const;

private:
    const BenchResult& result(std::size_t i) const { return runs_[i].result; }
    // Where run i stands in this section: 0 for its first run.
    std::size_t position(std::size_t i) const {
        return static_cast<std::size_t>(std::find(members_.begin(), members_.end(), i) - members_.begin());
    }
    // By position in the section, so that in a matrix (tools/bench) each
    // server keeps its colour from one section to the next.
    std::string color_of(std::size_t i) const {
        const auto& colors = report_colors();
        return colors[position(i) % colors.size()];
    }
    std::string swatch(std::size_t i) const {
        return fmt::format(R"(<span class="swatch" style="background:{}"></span>)", color_of(i));
    }
    bool any_timeline() const;
    // The timeline as drawn: seconds_per_step_ seconds to a step.
    const std::vector<TimelineSample>& drawn(std::size_t i) const { return drawn_[position(i)]; }
    std::string per_step(std::string_view one_second, std::string_view longer) const;
    std::pair<double, double> time_domain() const;
    void add_phase_bands(Chart& chart) const;
    std::string legend() const;
    std::string throughput_chart() const;
    std::string p99_chart() const;
    std::string connections_chart() const;
    // Latency by percentile, of the histogram `of` picks from each run.
    std::string spectrum_chart(const Histogram& (*of)(const BenchResult&), std::string_view title,
                               std::string_view kind) const;
    bool any_connects() const;
    // A table with a row per run: the run's swatch and label, then the
    // <td> cells `cells` gives for its result.
    std::string run_table(std::string_view css_class, std::string_view caption,
                          std::initializer_list<std::string_view> headers,
                          const std::function<std::string(const BenchResult&)>& cells) const;
    std::string connects_table() const;
    std::string parameters_table() const;
    std::string results_table() const;

    std::string chart_id(std::string_view kind) const { return fmt::format("{}-{}", kind, number_); }

    std::span<const ReportRun> runs_;
    std::vector<std::size_t> members_;
    std::size_t number_;
    std::size_t seconds_per_step_ = 1;
    std::vector<std::vector<TimelineSample>> drawn_;  // by position in members_
};

Section::Section(std::span<const ReportRun> runs, std::vector<std::size_t> members, std::size_t number)
    : runs_(runs), members_(std::move(members)), number_(number) {
    std::size_t longest = 0;
    for (std::size_t i : members_) {
        longest = std::max(longest, result(i).timeline.size());
    }
    seconds_per_step_ = std::max<std::size_t>(1, (longest + max_steps - 1) / max_steps);
    for (std::size_t i : members_) {
        drawn_.push_back(coarsen_timeline(result(i).timeline, seconds_per_step_));
    }
}

// A time chart's title: what one step is.
std::string Section::per_step(std::string_view one_second, std::string_view longer) const {
    if (seconds_per_step_ == 1) {
        return std::string(one_second);
    }
    return fmt::format("{} {} s", longer, seconds_per_step_);
}

bool Section::any_timeline() const {
    return std::any_of(members_.begin(), members_.end(), [this](std::size_t i) { return !result(i).timeline.empty(); });
}

// Seconds from the start of the measured window: the runs line up there.
std::pair<double, double> Section::time_domain() const {
    double lo = 0;
    double hi = 0;
    for (std::size_t i : members_) {
        lo = std::min(lo, -result(i).window_start_s);
        hi = std::max(hi, result(i).window_end_s - result(i).window_start_s);
    }
    return {lo, hi > lo ? hi : lo + 1};
}

void Section::add_phase_bands(Chart& chart) const {
    auto [lo, hi] = time_domain();
    double warmup_from = 0;
    for (std::size_t i : members_) {
        warmup_from = std::min(warmup_from, result(i).warmup_start_s - result(i).window_start_s);
    }
    if (warmup_from > lo) {
        chart.add_band({lo, warmup_from, "connecting", "#000000", 0.12});
    }
    if (warmup_from < 0) {
        chart.add_band({warmup_from, 0, "warm-up", "#000000", 0.06});
    }
}

// Each sample as a step: flat over its interval, on the window's clock.
template <typename Value>
std::vector<svg::Point> steps(const BenchResult& r, const std::vector<TimelineSample>& timeline, Value value) {
    std::vector<svg::Point> points;
    for (const TimelineSample& s : timeline) {
        double y = value(s);
        double x0 = s.t_s - r.window_start_s;
        points.push_back({x0, y});
        points.push_back({x0 + s.dt_s, y});
    }
    return points;
}

std::string Section::legend() const {
    std::string out = R"(<ul class="legend">)";
    for (std::size_t i : members_) {
        out += fmt::format(R"(<li><span class="swatch" style="background:{}"></span>{}</li>)", color_of(i),
                           escape(runs_[i].label));
    }
    return out + "</ul>\n";
}

std::string Section::throughput_chart() const {
    double top = 0;
    for (std::size_t i : members_) {
        for (const TimelineSample& s : drawn(i)) {
            top = std::max(top, s.msgs_per_sec());
        }
    }
    auto [lo, hi] = time_domain();
    auto [y_lo, y_hi] = svg::nice_domain(0, top, 5);
    Chart chart(chart_width, chart_height);
    chart.set_title(per_step("Throughput per second", "Throughput, the mean of each"));
    chart.set_id(chart_id("throughput"));
    chart.set_x(Chart::Scale::linear, lo, hi, "seconds from the start of the measured window");
    chart.set_y(Chart::Scale::linear, y_lo, y_hi, "messages/s");
    add_phase_bands(chart);
    for (std::size_t i : members_) {
        chart.add_series({runs_[i].label, color_of(i),
                          steps(result(i), drawn(i), [](const auto& s) { return s.msgs_per_sec(); }), false,
                          "throughput"});
    }
    return chart.render();
}

std::string Section::p99_chart() const {
    double low = std::numeric_limits<double>::infinity();
    double high = 0;
    for (std::size_t i : members_) {
        for (const TimelineSample& s : drawn(i)) {
            if (s.p99_ns) {
                low = std::min(low, static_cast<double>(*s.p99_ns) / 1000.0);
                high = std::max(high, static_cast<double>(*s.p99_ns) / 1000.0);
            }
        }
    }
    if (high <= 0) {
        bool merged =
            std::all_of(members_.begin(), members_.end(), [this](std::size_t i) { return result(i).runs > 1; });
        return merged ? R"(<p class="note">No p99 per second to draw: merged runs have none (the percentiles of )"
                        R"(concurrent runs do not add up).</p>)"
                      : R"(<p class="note">No p99 per second to draw: no second with echoes.</p>)";
    }
    auto [lo, hi] = time_domain();
    auto [y_lo, y_hi] = svg::log_domain(low, high);
    Chart chart(chart_width, chart_height);
    chart.set_title(per_step("p99 latency per second", "p99 latency per second, the highest in each"));
    chart.set_id(chart_id("p99"));
    chart.set_x(Chart::Scale::linear, lo, hi, "seconds from the start of the measured window");
    chart.set_y(Chart::Scale::log, y_lo, y_hi, "p99 latency", svg::format_latency_us);
    add_phase_bands(chart);
    for (std::size_t i : members_) {
        chart.add_series({runs_[i].label, color_of(i),
                          steps(result(i), drawn(i),
                                [](const auto& s) { return s.p99_ns ? static_cast<double>(*s.p99_ns) / 1000.0 : nan; }),
                          false, "p99"});
    }
    return chart.render();
}

std::string Section::connections_chart() const {
    std::uint32_t top = 1;
    for (std::size_t i : members_) {
        for (const TimelineSample& s : drawn(i)) {
            top = std::max(top, s.connections);
        }
        top = std::max(top, result(i).connections);
    }
    auto [lo, hi] = time_domain();
    // Whole connections: never more intervals than there are connections.
    int intervals = static_cast<int>(std::min<std::uint32_t>(top, 4));
    auto [y_lo, y_hi] = svg::nice_domain(0, top, intervals);
    Chart chart(chart_width, chart_height * 0.7);
    chart.set_title(per_step("Connections open", "Connections open, the most in each"));
    chart.set_id(chart_id("connections"));
    chart.set_x(Chart::Scale::linear, lo, hi, "seconds from the start of the measured window");
    chart.set_y(Chart::Scale::linear, y_lo, y_hi, "connections", {}, svg::linear_ticks(y_lo, y_hi, intervals));
    add_phase_bands(chart);
    for (std::size_t i : members_) {
        chart.add_series({runs_[i].label, color_of(i),
                          steps(result(i), drawn(i), [](const auto& s) { return static_cast<double>(s.connections); }),
                          false, "connections"});
    }
    return chart.render();
}

std::string Section::spectrum_chart(const Histogram& (*of)(const BenchResult&), std::string_view title,
                                    std::string_view kind) const {
    std::uint64_t most = 0;
    double low = std::numeric_limits<double>::infinity();
    double high = 0;
    for (std::size_t i : members_) {
        const Histogram& h = of(result(i));
        if (h.count() > 0) {
            most = std::max(most, h.count());
            // A 0 ns echo cannot sit on a log axis; 1 ns is as good.
            low = std::min(low, static_cast<double>(std::max<std::uint64_t>(h.min(), 1)) / 1000.0);
            high = std::max(high, static_cast<double>(h.max()) / 1000.0);
        }
    }
    if (most == 0) {
        return R"(<p class="note">No latency spectrum: nothing was echoed in the measured window.</p>)";
    }
    // At least to p99 (x = 100), and far enough right for every run's count.
    double x_hi = std::max(100.0, std::pow(10.0, std::ceil(std::log10(static_cast<double>(most)))));
    auto [y_lo, y_hi] = svg::log_domain(low, high);
    Chart chart(chart_width, chart_height * 1.3);
    chart.set_title(std::string(title));
    chart.set_id(chart_id(kind));
    chart.set_x(Chart::Scale::log, 1, x_hi, "percentile (log scale of 1 / (1 − percentile))",
                svg::format_percentile_axis);
    chart.set_y(Chart::Scale::log, y_lo, y_hi, "latency", svg::format_latency_us);
    for (const PercentileMark& m : spectrum_marks) {
        double x = 1.0 / (1.0 - m.q / 100.0);
        if (x <= x_hi) {
            chart.add_mark({x, m.label});
        }
    }
    for (std::size_t i : members_) {
        const Histogram& h = of(result(i));
        if (h.count() == 0) {
            continue;
        }
        // 20 points a decade, up to the last percentile the count can tell
        // apart (1 / (1 - p) = count); the max ends the line there.
        const auto count = static_cast<double>(h.count());
        svg::Series curve{runs_[i].label, color_of(i), {}, false, std::string(kind)};
        double x = 1;
        for (int k = 1; x <= count; ++k) {
            double q = 100.0 * (1.0 - 1.0 / x);
            curve.points.push_back({x, static_cast<double>(h.percentile(q)) / 1000.0});
            x = std::pow(10.0, k / 20.0);
        }
        const double x_max = std::max(count, curve.points.empty() ? 1.0 : curve.points.back().x);
        curve.points.push_back({x_max, static_cast<double>(h.max()) / 1000.0});
        if (members_.size() == 1) {
            chart.add_mark({x_max, "max"});  // with several runs, each max is its line's last dot
        }
        chart.add_series(std::move(curve));

        svg::Series marks{runs_[i].label + ": p50, p90, p99, p99.9, p99.99, max",
                          color_of(i),
                          {},
                          true,
                          std::string(kind) + "-marks"};
        marks.line = false;
        for (const PercentileMark& m : spectrum_marks) {
            double mx = 1.0 / (1.0 - m.q / 100.0);
            if (mx <= x_max) {
                marks.points.push_back({mx, static_cast<double>(h.percentile(m.q)) / 1000.0});
            }
        }
        marks.points.push_back({x_max, static_cast<double>(h.max()) / 1000.0});
        chart.add_series(std::move(marks));
    }
    return chart.render();
}

bool Section::any_connects() const {
    return std::any_of(members_.begin(), members_.end(),
                       [this](std::size_t i) { return result(i).connect_latency.count() > 0; });
}

std::string Section::run_table(std::string_view css_class, std::string_view caption,
                               std::initializer_list<std::string_view> headers,
                               const std::function<std::string(const BenchResult&)>& cells) const {
    std::string out = fmt::format("<table class=\"{}\">\n<caption>{}</caption>\n<tr><th>run</th>", css_class, caption);
    for (std::string_view header : headers) {
        out += fmt::format("<th>{}</th>", header);
    }
    out += "</tr>\n";
    for (std::size_t i : members_) {
        out += fmt::format("<tr><td>{}{}</td>{}</tr>\n", swatch(i), escape(runs_[i].label), cells(result(i)));
    }
    return out + "</table>\n";
}

std::string Section::connects_table() const {
    return run_table(
        "connects", "New connections (measured window)",
        {"messages per connection", "connects", "connects/s", "p50", "p90", "p99", "p99.9", "max"},
        [](const BenchResult& r) {
            const Histogram& h = r.connect_latency;
            auto latency = [&h](double q) { return h.count() == 0 ? std::string("–") : us_text(h.percentile(q)); };
            return fmt::format(
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                r.messages_per_connection == 0 ? std::string("kept")
                                               : thousands(static_cast<double>(r.messages_per_connection)),
                thousands(static_cast<double>(r.connects)), thousands(r.connects_per_sec()), latency(50), latency(90),
                latency(99), latency(99.9), h.count() == 0 ? std::string("–") : us_text(h.max()));
        });
}

std::string Section::parameters_table() const {
    return run_table(
        "parameters", "Parameters",
        {"server", "threads", "warm-up", "window", "verify", "runs merged", "echobench", "started (UTC)"},
        [](const BenchResult& r) {
            return fmt::format(
                "<td>{}</td><td>{}</td><td>{:.3g} s</td><td>{:.3f} s{}</td><td>{}</td><td>{}</td><td>{}</td>"
                "<td>{}</td>",
                escape(r.target), r.threads, r.warmup_s, r.duration_s, r.interrupted ? " (interrupted)" : "",
                r.verify ? "on" : "<strong>off</strong>", r.runs, r.version.empty() ? "?" : escape(r.version),
                r.started_at.empty() ? "?" : escape(r.started_at));
        });
}

std::string Section::results_table() const {
    return run_table(
        "results", "Results (measured window)",
        {"messages", "msgs/s", "MiB/s", "p50", "p90", "p99", "p99.9", "p99.99", "max", "connect", "broken", "mismatch",
         "timeout"},
        [](const BenchResult& r) {
            const Histogram& h = r.latency;
            auto latency = [&h](double q) { return h.count() == 0 ? std::string("–") : us_text(h.percentile(q)); };
            auto error_cell = [](std::uint64_t n, bool loud) {
                return n == 0 ? std::string("<td>0</td>")
                              : fmt::format(R"(<td class="{}">{}</td>)", loud ? "bad" : "warn", n);
            };
            return fmt::format(
                "<td>{}</td><td>{}</td><td>{:.2f}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                "<td>{}</td>{}{}{}{}",
                thousands(static_cast<double>(r.messages)), thousands(r.msgs_per_sec()),
                r.bytes_per_sec() / (1024.0 * 1024.0), latency(50), latency(90), latency(99), latency(99.9),
                latency(99.99), h.count() == 0 ? std::string("–") : us_text(h.max()),
                error_cell(r.errors.connect, false), error_cell(r.errors.broken, false),
                error_cell(r.errors.mismatch, true), error_cell(r.errors.timeout, false));
        });
}

std::string Section::render() const {
    std::string out = fmt::format("<section>\n<h2>{}</h2>\n", escape(load_title(result(members_.front()))));
    out += legend();
    if (any_timeline()) {
        out += "<figure>" + throughput_chart() + "</figure>\n";
        out += "<figure>" + p99_chart() + "</figure>\n";
        out += "<figure>" + connections_chart() + "</figure>\n";
    } else {
        out += R"(<p class="note">No per-second timeline in these runs (written by an echobench without one).</p>)"
               "\n";
    }
    out += "<figure>" +
           spectrum_chart([](const BenchResult& r) -> const Histogram& { return r.latency; }, "Latency by percentile",
                          "spectrum") +
           "</figure>\n";
    out += R"(<p class="note">Dots on each line: p50, p90, p99, p99.9, p99.99 and max. )"
           "The right end of a line is the highest percentile its number of messages can tell apart.</p>\n";
    if (any_connects()) {
        // Churn: how long connecting took, for the connections opened in the window.
        out += "<figure>" +
               spectrum_chart([](const BenchResult& r) -> const Histogram& { return r.connect_latency; },
                              "Connect latency by percentile (connect call to established)", "connect-spectrum") +
               "</figure>\n";
    }
    out += parameters_table();
    out += results_table();
    if (any_connects()) {
        out += connects_table();
    }
    return out + "</section>\n";
}

// Banners for what makes a run's figures doubtful, loudest first.
std::string alerts(std::span<const ReportRun> runs) {
    std::string bad;
    std::string warn;
    for (const ReportRun& run : runs) {
        for (const FailureLine& line : failure_lines(run.result)) {
            if (line.mismatch) {
                bad += fmt::format(
                    "<li><strong>{}: {}</strong>. The server sent back bytes that differ from those sent: "
                    "this run measured a broken echo; do not trust its figures.</li>\n",
                    escape(run.label), escape(line.text));
            } else {
                warn += fmt::format("<li>{}: {}</li>\n", escape(run.label), escape(line.text));
            }
        }
    }
    std::string out;
    if (!bad.empty()) {
        out += "<div class=\"alert bad\" role=\"alert\"><h2>Echo mismatch</h2><ul>\n" + bad + "</ul></div>\n";
    }
    if (!warn.empty()) {
        out += "<div class=\"alert warn\" role=\"alert\"><h2>Errors</h2><ul>\n" + warn + "</ul></div>\n";
    }
    return out;
}

constexpr std::string_view style = R"(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 24px auto;
       max-width: 960px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
p.sub { color: #555; margin: 0 0 16px; }
p.note { color: #666; font-size: 12px; margin: 2px 0 10px; }
figure { margin: 6px 0; }
svg.chart { width: 100%; height: auto; display: block; }
ul.legend { list-style: none; padding: 0; margin: 4px 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
.swatch { display: inline-block; width: 14px; height: 4px; vertical-align: middle; margin-right: 6px; }
table { border-collapse: collapse; margin: 10px 0; font-size: 12.5px; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; font-weight: 600; }
td.bad { background: #b00020; color: #fff; font-weight: 700; }
td.warn { background: #fff3cd; font-weight: 600; }
.alert { border-radius: 6px; padding: 10px 16px; margin: 14px 0; }
.alert h2 { margin: 0 0 4px; }
.alert.bad { background: #b00020; color: #fff; font-size: 16px; border: 3px solid #6d0014; }
.alert.warn { background: #fff3cd; border: 1px solid #e0b000; }
footer { color: #777; font-size: 12px; margin-top: 32px; }
polyline.slo { stroke-dasharray: 6 4; }
table.steps td:last-child { text-align: left; white-space: normal; }
)";

// The page's head, its <h1>, and the line under it.
std::string page_start(std::string_view title, std::string_view sub) {
    return fmt::format(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>{0}</title>\n<style>{1}</style>\n</head>\n<body>\n<h1>{0}</h1>\n<p class=\"sub\">{2}</p>\n",
        escape(title), style, escape(sub));
}

constexpr const char* pass_color = "#2ca02c";
constexpr const char* fail_color = "#d62728";

// The SLO's percentile of a step, in microseconds; NaN (not drawn) when it
// echoed nothing.
double slo_latency_us(const FindRateResult& search, const FindRateStep& step) {
    const Histogram& h = step.result.latency;
    return h.count() == 0 ? nan : static_cast<double>(h.percentile(search.slo.quantile)) / 1000.0;
}

std::string find_rate_chart(const FindRateResult& search) {
    const double bound = static_cast<double>(search.slo.us);
    double x_top = 0;
    double low = bound;
    double high = bound;
    for (const FindRateStep& step : search.steps) {
        x_top = std::max(x_top, step.result.msgs_per_sec());
        if (double us = slo_latency_us(search, step); std::isfinite(us)) {
            low = std::min(low, std::max(us, 0.001));
            high = std::max(high, us);
        }
    }
    auto [x_lo, x_hi] = svg::nice_domain(0, x_top, 6);
    auto [y_lo, y_hi] = svg::log_domain(low, high);
    Chart chart(chart_width, chart_height * 1.3);
    chart.set_title(fmt::format("{} latency against achieved rate, one point per step", search.slo.percentile));
    chart.set_id("find-rate-1");
    chart.set_x(Chart::Scale::linear, x_lo, x_hi, "achieved messages/s");
    chart.set_y(Chart::Scale::log, y_lo, y_hi, search.slo.percentile + " latency", svg::format_latency_us);
    chart.add_series({"SLO " + format_slo(search.slo), "#555555", {{x_lo, bound}, {x_hi, bound}}, false, "slo"});
    svg::Series pass{"passing steps", pass_color, {}, true, "pass"};
    svg::Series fail{"failing steps", fail_color, {}, true, "fail"};
    pass.line = false;
    fail.line = false;
    fail.marker = svg::Series::Marker::cross;
    pass.dot_radius = 4;
    fail.dot_radius = 4;
    for (const FindRateStep& step : search.steps) {
        (step.pass ? pass : fail).points.push_back({step.result.msgs_per_sec(), slo_latency_us(search, step)});
    }
    chart.add_series(std::move(pass));
    chart.add_series(std::move(fail));
    return chart.render();
}

std::string find_rate_table(const FindRateResult& search) {
    std::string out =
        "<table class=\"steps\">\n<caption>Steps, in the order they ran</caption>\n"
        "<tr><th>step</th><th>rate</th><th>achieved</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th>"
        "<th>max</th><th>errors</th><th>result</th></tr>\n";
    for (std::size_t i = 0; i < search.steps.size(); ++i) {
        const FindRateStep& step = search.steps[i];
        const Histogram& h = step.result.latency;
        auto latency = [&h](double q) { return h.count() == 0 ? std::string("–") : us_text(h.percentile(q)); };
        std::string why = step_failure(search.slo, step.rate, step.result);
        out += fmt::format(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td class=\"{}\">{}</td></tr>\n",
            i + 1, thousands(step.rate), thousands(step.result.msgs_per_sec()), latency(50), latency(90), latency(99),
            latency(99.9), h.count() == 0 ? std::string("–") : us_text(h.max()), step.result.errors.total(),
            step.pass ? "pass" : "warn", step.pass ? std::string("pass") : escape("fail: " + why));
    }
    return out + "</table>\n";
}

}  // namespace

const std::vector<std::string>& report_colors() {
    static const std::vector<std::string> colors = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    return colors;
}

std::string report_label(const std::string& path) {
    std::string name = path.substr(path.find_last_of('/') + 1);
    if (name.size() > 5 && name.ends_with(".json")) {
        name.resize(name.size() - 5);
    }
    return name;
}

std::string format_find_rate_report(const FindRateResult& search) {
    const std::string slo = format_slo(search.slo);
    std::string out = page_start(
        "echobench --find-rate: " + search.target,
        fmt::format("{} connection{} × {} messages × pipeline {} · SLO {} · max rate {} · {} step{} of {:.3g} s · "
                    "started {} UTC",
                    search.connections, search.connections == 1 ? "" : "s", common::format_size(search.size),
                    search.pipeline, slo,
                    search.max_rate ? thousands(*search.max_rate) + " msgs/s" : std::string("none"),
                    search.steps.size(), search.steps.size() == 1 ? "" : "s", search.step_duration_s,
                    search.started_at.empty() ? "?" : search.started_at));
    std::vector<ReportRun> steps;
    for (std::size_t i = 0; i < search.steps.size(); ++i) {
        steps.push_back({fmt::format("step {} ({:.1f} msgs/s)", i + 1, search.steps[i].rate), search.steps[i].result});
    }
    out += alerts(steps);
    out += "<section>\n<h2>The search</h2>\n";
    out += fmt::format(
        "<ul class=\"legend\"><li><span class=\"swatch\" style=\"background:{}\"></span>passing step (dot)</li>"
        "<li><span class=\"swatch\" style=\"background:{}\"></span>failing step (cross)</li>"
        "<li><span class=\"swatch\" style=\"background:#555555\"></span>SLO {} (dashed)</li></ul>\n",
        pass_color, fail_color, escape(slo));
    if (search.steps.empty()) {
        out += "<p class=\"note\">No step ran.</p>\n";
    } else {
        out += "<figure>" + find_rate_chart(search) + "</figure>\n";
    }
    out += fmt::format(
        "<p class=\"note\">Each step is an open-loop run of its own on fresh connections: {:.3g} s of warm-up, then "
        "{:.3g} s measured. It passes when its {} is at or under the SLO, it achieved at least 99% of its rate, "
        "and nothing failed. Search ended: {}.</p>\n",
        search.warmup_s, search.step_duration_s, escape(search.slo.percentile), escape(search.stop));
    out += find_rate_table(search);
    out += "</section>\n";
    // The highest passing step, drawn like a run of its own.
    for (std::size_t i = steps.size(); i-- > 0;) {
        if (search.steps[i].pass && search.max_rate && search.steps[i].rate == *search.max_rate) {
            out += fmt::format("<h2>The highest passing step: {}</h2>\n", escape(steps[i].label));
            out += Section(std::span<const ReportRun>(&steps[i], 1), {0}, 1).render();
            break;
        }
    }
    out +=
        "<footer>Written by echobench --find-rate --report. Latencies are from each step's measured window "
        "only.</footer>\n</body>\n</html>\n";
    return out;
}

std::string format_html_report(std::span<const ReportRun> runs) {
    std::string title;
    if (runs.size() == 1) {
        title = "echobench: " + runs.front().result.target;
    } else if (runs.size() > 3) {
        title = fmt::format("echobench: {} runs compared", runs.size());
    } else {
        for (const ReportRun& run : runs) {
            title += (title.empty() ? "echobench: " : " vs ") + run.label;
        }
    }
    std::string out = fmt::format(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(title), style, escape(title));
    if (runs.size() == 1) {
        const BenchResult& r = runs.front().result;
        out +=
            fmt::format("<p class=\"sub\">{} · {} msgs/s · p99 {} · started {} UTC</p>\n", escape(load_title(r)),
                        thousands(r.msgs_per_sec()), r.latency.count() == 0 ? "–" : us_text(r.latency.percentile(99)),
                        r.started_at.empty() ? "?" : escape(r.started_at));
    } else {
        out += fmt::format("<p class=\"sub\">{} runs, overlaid where they share a load.</p>\n", runs.size());
    }
    out += alerts(runs);
    // Sections in the order their first run was given.
    std::vector<bool> placed(runs.size(), false);
    std::size_t sections = 0;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        if (placed[i]) {
            continue;
        }
        std::vector<std::size_t> members;
        for (std::size_t j = i; j < runs.size(); ++j) {
            if (!placed[j] && same_load(runs[i].result, runs[j].result)) {
                placed[j] = true;
                members.push_back(j);
            }
        }
        ++sections;
        out += Section(runs, std::move(members), sections).render();
    }
    out +=
        "<footer>Written by echobench --report. Latencies are from the measured window only; the "
        "per-second charts also show the warm-up (shaded). Time 0 is the start of the measured window."
        "</footer>\n</body>\n</html>\n";
    return out;
}

}  // namespace echobench
