// Small SVG charts for echobench's HTML report: scales, "nice" ticks with
// readable labels, and a chart that draws axes, grid, shaded bands,
// vertical marks and polylines into one inline <svg> element.
//
//   ┌──────────────────────── width ─────────────────────────┐
//   │ margins.top: the title                                 │
//   │ y ticks ┌─────────── plot area ───────────┐            │
//   │ and     │ grid, bands, marks, series      │ margins.   │
//   │ y title └─────────────────────────────────┘ right      │
//   │ margins.left  x ticks, x title (margins.bottom)        │
//   └────────────────────────────────────────────────────────┘
//
// The legend is not the chart's: the page shows one for all its charts.
//
// Pure: strings in, a string out, no I/O, so the tick logic is unit-tested
// and the output is the same for the same input (no clocks, no randomness).
// Coordinates are rounded to 0.1 px to keep the files small.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace echobench::svg {

// Maps [domain_lo, domain_hi] onto [range_lo, range_hi] (range_lo may be the
// larger: SVG's y grows downwards). A degenerate domain (lo == hi) maps
// every value to the middle of the range.
class LinearScale {
public:
    LinearScale(double domain_lo, double domain_hi, double range_lo, double range_hi);
    double operator()(double value) const;
    double domain_lo() const { return domain_lo_; }
    double domain_hi() const { return domain_hi_; }

private:
    double domain_lo_, domain_hi_, range_lo_, range_hi_;
};

// The same on log10 of the values. The domain must be > 0 (a domain_lo of
// 0 or less is taken as domain_hi / 10, or 1, and then a domain_hi of 0 or
// less as 10 x domain_lo); values at or below 0 map to range_lo, as if they
// were domain_lo.
class LogScale {
public:
    LogScale(double domain_lo, double domain_hi, double range_lo, double range_hi);
    double operator()(double value) const;
    double domain_lo() const { return domain_lo_; }
    double domain_hi() const { return domain_hi_; }

private:
    double domain_lo_, domain_hi_, range_lo_, range_hi_;
};

// The smallest step of the form {1, 2, 5} x 10^k that divides span into at
// most max_intervals intervals (max_intervals >= 1). 1 for a span of 0 or
// less, or one that is not finite.
double nice_step(double span, int max_intervals);

// [lo, hi] widened outwards to multiples of nice_step(hi - lo, max_intervals),
// so that an axis starts and ends on a tick: (0, 237) -> (0, 250) with 5
// intervals. When the wider span needs a larger step, it is widened again to
// multiples of that. lo == hi is first widened to (lo - 1, lo + 1), or (0, 1)
// for 0. Not finite: (0, 1).
std::pair<double, double> nice_domain(double lo, double hi, int max_intervals);

// The multiples of nice_step(hi - lo, max_intervals) within [lo, hi]
// (with a tolerance of 1e-9 of the step, so the ends of a nice_domain are
// included), in increasing order. Values within the tolerance of 0 are 0
// exactly (never -0 or 1e-17).
std::vector<double> linear_ticks(double lo, double hi, int max_intervals);

// [lo, hi] (lo > 0) widened outwards to whole powers of ten: (3, 420) ->
// (1, 1000). lo <= 0 is taken as hi / 10 (1 when hi <= 0 too); lo == hi
// gives one decade around it.
std::pair<double, double> log_domain(double lo, double hi);

// The powers of ten within [lo, hi] (lo > 0, same tolerance as above);
// when that gives fewer than 3 ticks, also 2x and 5x each power of ten.
std::vector<double> log_ticks(double lo, double hi);

// Tick labels. format_number keeps as many decimals as step needs and uses
// k, M, G for thousands, millions, billions:
//   (0, 50000) -> "0", (250000, 50000) -> "250k", (1500000, 500000) -> "1.5M",
//   (0.5, 0.1) -> "0.5", (-2, 1) -> "-2", (1000, 1000) -> "1k".
// A unit is used only if step needs at most 3 decimals in it; trailing zeros
// are dropped. A step <= 0 keeps 3 significant digits. All three formatters
// give "" for NaN (and format_number for infinities).
std::string format_number(double value, double step);

// A latency in microseconds, short: 0.25 -> "250ns", 12 -> "12µs",
// 1500 -> "1.5ms", 2000000 -> "2s". At most 3 significant digits.
std::string format_latency_us(double us);

// A point on the percentile axis, where x = 1 / (1 - p/100): 1 -> "0%",
// 2 -> "50%", 10 -> "90%", 100 -> "99%", 1000 -> "99.9%", 1e5 -> "99.999%".
std::string format_percentile_axis(double x);

// text with & < > " ' escaped, for element content and attribute values.
// Control characters XML cannot hold (all below 0x20 but tab, CR, LF) are
// dropped.
std::string escape(std::string_view text);

struct Point {
    double x = 0;
    double y = 0;
};

struct Series {
    std::string label;          // a <title> on the polyline (a tooltip); the page has the legend
    std::string color;          // any CSS colour, e.g. "#1f77b4"
    std::vector<Point> points;  // data coordinates, drawn in order
    bool dots = false;          // also a small circle on every point
    std::string css_class;      // optional, added to the polyline's class
    bool line = true;           // false: the dots alone, no polyline
    // The dots' shape: a cross tells points apart where colour alone would
    // not (a failing step from a passing one, in print or for the colour-blind).
    enum class Marker { circle, cross };
    Marker marker = Marker::circle;
    double dot_radius = 2.5;  // px: a circle's radius, a cross's half-width
};

// A shaded span of x (e.g. the warm-up), labelled at its top.
struct Band {
    double x_lo = 0;
    double x_hi = 0;
    std::string label;
    std::string color = "#000000";
    double opacity = 0.07;
};

// A vertical line at x (e.g. p99), labelled at its top.
struct Mark {
    double x = 0;
    std::string label;
};

struct Margins {
    double top = 28;
    double right = 16;
    double bottom = 44;
    double left = 64;
};

class Chart {
public:
    enum class Scale { linear, log };
    using Labeler = std::function<std::string(double value)>;

    Chart(double width, double height) : width_(width), height_(height) {}

    // The axes. Without explicit ticks, linear axes get linear_ticks(lo, hi,
    // 6) for x and (lo, hi, 5) for y, log axes log_ticks(lo, hi). Without a
    // labeler, ticks are labelled format_number(value, tick step). lo and hi
    // are used as given: widen them first (nice_domain, log_domain) to start
    // and end on ticks.
    void set_x(Scale scale, double lo, double hi, std::string title, Labeler labeler = {},
               std::vector<double> ticks = {});
    void set_y(Scale scale, double lo, double hi, std::string title, Labeler labeler = {},
               std::vector<double> ticks = {});
    void set_title(std::string title) { title_ = std::move(title); }
    void set_margins(Margins margins) { margins_ = margins; }
    // The <svg> element's id, which also names its clip path ("ID-plot"):
    // the charts of one page need ids of their own. Letters, digits, '-'
    // and '_'; anything else is written as '_'.
    void set_id(std::string id) { id_ = std::move(id); }

    void add_band(Band band) { bands_.push_back(std::move(band)); }
    void add_mark(Mark mark) { marks_.push_back(std::move(mark)); }
    void add_series(Series series) { series_.push_back(std::move(series)); }

    // One <svg> element (no XML declaration), well-formed XML, with a
    // viewBox of 0 0 width height so it scales with the page. Points outside
    // the axes' domain are clipped to the plot area (a clipPath), not moved;
    // points that are not finite are skipped (the line breaks there);
    // bands and marks are clamped to the plot area. Draw order: grid,
    // bands, marks, series, axes and labels. The class names it uses are
    // "grid", "axis", "tick", "band", "mark", "series", "title",
    // "axis-title".
    std::string render() const;

private:
    struct Axis {
        Scale scale = Scale::linear;
        double lo = 0;
        double hi = 1;
        std::string title;
        Labeler labeler;
        std::vector<double> ticks;
    };

    double width_, height_;
    Margins margins_;
    std::string title_;
    std::string id_ = "chart";
    Axis x_, y_;
    std::vector<Band> bands_;
    std::vector<Mark> marks_;
    std::vector<Series> series_;
};

}  // namespace echobench::svg
