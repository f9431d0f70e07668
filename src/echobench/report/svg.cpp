#include "echobench/report/svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <iterator>

namespace echobench::svg {

namespace {

// Tick arithmetic forgives this fraction of a step (or of a value on a log
// axis), so that 0.1 + 0.2 still counts as the tick at 0.3.
constexpr double tolerance = 1e-9;

// m x 10^e, correctly rounded: dividing by 10^-e keeps 0.05 the double
// closest to 0.05, which multiplying by 0.01 does not.
double decimal(double m, int e) {
    return e >= 0 ? m * std::pow(10.0, e) : m / std::pow(10.0, -e);
}

// k steps of a nice step. A fractional nice step is 1 / n for a whole n, and
// k / n is exact where k x step is not: 3 / 10 is 0.3, 3 x 0.1 is not.
double multiple(double k, double step) {
    if (k == 0) {
        return 0;  // also for k == -0
    }
    return step < 1 ? k / std::round(1 / step) : k * step;
}

template <typename... Args>
void append(std::string& out, fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

// "1.50" -> "1.5", "2.00" -> "2", and never "-0".
std::string trimmed(std::string text) {
    if (text.find('.') != std::string::npos) {
        text.erase(text.find_last_not_of('0') + 1);
        if (text.back() == '.') {
            text.pop_back();
        }
    }
    return text == "-0" ? "0" : text;
}

// A coordinate, to 0.1 px. Callers skip what is not finite; "0" is a safe
// fallback that keeps the XML free of "nan".
std::string px(double value) {
    return std::isfinite(value) ? trimmed(fmt::format("{:.1f}", value)) : "0";
}

// One axis's mapping and the domain it really uses (a log axis replaces a
// lo <= 0).
class AxisScale {
public:
    AxisScale(Chart::Scale scale, double lo, double hi, double range_lo, double range_hi)
        : log_(scale == Chart::Scale::log),
          linear_(lo, hi, range_lo, range_hi),
          logarithmic_(lo, hi, range_lo, range_hi),
          range_min_(std::min(range_lo, range_hi)),
          range_max_(std::max(range_lo, range_hi)) {}

    double operator()(double value) const { return log_ ? logarithmic_(value) : linear_(value); }
    bool log() const { return log_; }
    double lo() const { return log_ ? logarithmic_.domain_lo() : std::min(linear_.domain_lo(), linear_.domain_hi()); }
    double hi() const { return log_ ? logarithmic_.domain_hi() : std::max(linear_.domain_lo(), linear_.domain_hi()); }
    // Pixels are compared, not values: that works alike for both scales and
    // for reversed domains.
    double clamp(double pixel) const { return std::clamp(pixel, range_min_, range_max_); }
    bool before(double pixel) const { return pixel < range_min_ - 0.01; }
    bool after(double pixel) const { return pixel > range_max_ + 0.01; }

private:
    bool log_;
    LinearScale linear_;
    LogScale logarithmic_;
    double range_min_, range_max_;
};

// Roughly how wide text is, in pixels: sans-serif averages about 0.6 em a
// character. Enough to keep a label inside the chart.
double text_width(std::string_view text, double font_size) {
    auto characters =
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
    return 0.6 * font_size * static_cast<double>(characters);
}

struct Tick {
    double at;  // pixels
    std::string label;
};

std::vector<Tick> ticks_of(const AxisScale& scale, std::vector<double> values, const Chart::Labeler& labeler,
                           int max_intervals) {
    // format_number's step: the default ticks' own step, else the closest two
    // ticks; each tick of a log axis is its own step.
    double step = 0;
    if (!values.empty()) {
        std::erase_if(values, [](double value) { return !std::isfinite(value); });  // before sort: NaN has no order
        std::sort(values.begin(), values.end());
        for (std::size_t i = 1; i < values.size() && !scale.log(); ++i) {
            double gap = values[i] - values[i - 1];
            if (gap > 0 && (step == 0 || gap < step)) {
                step = gap;
            }
        }
    } else if (scale.log()) {
        values = log_ticks(scale.lo(), scale.hi());
    } else {
        values = linear_ticks(scale.lo(), scale.hi(), max_intervals);
        step = nice_step(scale.hi() - scale.lo(), max_intervals);
    }
    std::vector<Tick> ticks;
    for (double value : values) {
        double at = scale(value);
        if ((scale.log() && value <= 0) || scale.before(at) || scale.after(at)) {
            continue;
        }
        ticks.push_back({at, labeler ? labeler(value) : format_number(value, scale.log() ? value : step)});
    }
    return ticks;
}

}  // namespace

LinearScale::LinearScale(double domain_lo, double domain_hi, double range_lo, double range_hi)
    : domain_lo_(domain_lo), domain_hi_(domain_hi), range_lo_(range_lo), range_hi_(range_hi) {}

double LinearScale::operator()(double value) const {
    if (domain_hi_ == domain_lo_) {
        return (range_lo_ + range_hi_) / 2;
    }
    return range_lo_ + (value - domain_lo_) / (domain_hi_ - domain_lo_) * (range_hi_ - range_lo_);
}

LogScale::LogScale(double domain_lo, double domain_hi, double range_lo, double range_hi)
    : domain_lo_(domain_lo), domain_hi_(domain_hi), range_lo_(range_lo), range_hi_(range_hi) {
    if (!(domain_lo_ > 0)) {
        domain_lo_ = domain_hi_ > 0 ? domain_hi_ / 10 : 1;
    }
    if (!(domain_hi_ > 0)) {
        domain_hi_ = domain_lo_ * 10;
    }
}

double LogScale::operator()(double value) const {
    if (value <= 0) {
        value = domain_lo_;
    }
    return LinearScale(std::log10(domain_lo_), std::log10(domain_hi_), range_lo_, range_hi_)(std::log10(value));
}

double nice_step(double span, int max_intervals) {
    if (!(span > 0) || !std::isfinite(span)) {
        return 1;
    }
    double intervals = std::max(max_intervals, 1);
    // Start a decade below the estimate, in case log10 rounded up.
    int e = static_cast<int>(std::floor(std::log10(span / intervals))) - 1;
    for (;; ++e) {
        for (double m : {1.0, 2.0, 5.0}) {
            double step = decimal(m, e);
            if (span / step <= intervals * (1 + tolerance)) {
                return step;
            }
        }
    }
}

std::pair<double, double> nice_domain(double lo, double hi, int max_intervals) {
    if (!std::isfinite(lo) || !std::isfinite(hi)) {
        return {0, 1};
    }
    if (lo > hi) {
        std::swap(lo, hi);
    }
    if (lo == hi) {
        if (lo == 0) {
            return {0, 1};
        }
        lo -= 1;
        hi += 1;
    }
    // Each round can only grow the step, so this settles within a few.
    for (int round = 0; round < 8; ++round) {
        double step = nice_step(hi - lo, max_intervals);
        lo = multiple(std::floor(lo / step + tolerance), step);
        hi = multiple(std::ceil(hi / step - tolerance), step);
        if (nice_step(hi - lo, max_intervals) == step) {
            break;
        }
    }
    return {lo, hi};
}

std::vector<double> linear_ticks(double lo, double hi, int max_intervals) {
    std::vector<double> ticks;
    if (!std::isfinite(lo) || !std::isfinite(hi) || !std::isfinite(hi - lo) || lo > hi) {
        return ticks;
    }
    double step = nice_step(hi - lo, max_intervals);
    double first = std::ceil(lo / step - tolerance);
    double last = std::floor(hi / step + tolerance);
    // Bounded by the step's promise; the bound also saves a loop where
    // first + 1 == first (lo == hi == 1e17).
    double count = std::min(last - first, static_cast<double>(std::max(max_intervals, 1)));
    for (int i = 0; i <= static_cast<int>(count); ++i) {
        ticks.push_back(multiple(first + i, step));
    }
    return ticks;
}

std::pair<double, double> log_domain(double lo, double hi) {
    if (!(lo > 0)) {
        lo = hi > 0 ? hi / 10 : 1;
    }
    if (!(hi > 0)) {
        hi = lo;
    }
    if (hi < lo) {
        std::swap(lo, hi);
    }
    if (!std::isfinite(lo) || !std::isfinite(hi)) {
        return {1, 10};
    }
    int e_lo = static_cast<int>(std::floor(std::log10(lo) + tolerance));
    int e_hi = static_cast<int>(std::ceil(std::log10(hi) - tolerance));
    return {decimal(1, e_lo), decimal(1, std::max(e_hi, e_lo + 1))};
}

std::vector<double> log_ticks(double lo, double hi) {
    std::vector<double> ticks;
    if (!(lo > 0)) {
        lo = hi > 0 ? hi / 10 : 1;  // as LogScale does
    }
    if (!(hi >= lo) || !std::isfinite(lo) || !std::isfinite(hi)) {
        return ticks;
    }
    int e_lo = static_cast<int>(std::floor(std::log10(lo)));
    int e_hi = static_cast<int>(std::ceil(std::log10(hi)));
    auto collect = [&](std::initializer_list<double> mantissas) {
        ticks.clear();
        for (int e = e_lo; e <= e_hi; ++e) {
            for (double m : mantissas) {
                double value = decimal(m, e);
                if (value >= lo * (1 - tolerance) && value <= hi * (1 + tolerance)) {
                    ticks.push_back(value);
                }
            }
        }
    };
    collect({1.0});
    if (ticks.size() < 3) {
        collect({1.0, 2.0, 5.0});
    }
    return ticks;
}

std::string format_number(double value, double step) {
    if (!std::isfinite(value)) {
        return "";
    }
    if (!(step > 0) || !std::isfinite(step)) {
        step = value == 0 ? 1 : decimal(1, static_cast<int>(std::floor(std::log10(std::abs(value)))) - 2);
    }
    static constexpr std::array<std::pair<double, const char*>, 3> units{{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}}};
    double unit = 1;
    const char* suffix = "";
    for (const auto& [size, name] : units) {
        if (std::abs(value) >= size * (1 - tolerance) && step >= size / 1000 * (1 - tolerance)) {
            unit = size;
            suffix = name;
            break;
        }
    }
    // Enough decimals for the step's first digit, and more for 0.25 or 2.5.
    double scaled = step / unit;
    int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(scaled) + tolerance)));
    for (int more = 0; more < 3; ++more, ++decimals) {
        double digits = scaled * decimal(1, decimals);
        if (std::abs(digits - std::round(digits)) <= tolerance * digits) {
            break;
        }
    }
    return trimmed(fmt::format("{:.{}f}", value / unit, decimals)) + suffix;
}

std::string format_latency_us(double us) {
    if (!std::isfinite(us)) {
        return "";
    }
    if (us == 0) {
        return "0";
    }
    // The sign goes into the one format call at the end: GCC 12 at -O3 took
    // "-" + format_latency_us(-us) (an insert at 0 into the moved string)
    // for an overlapping memcpy (-Werror=restrict, a false positive).
    const char* sign = us < 0 ? "-" : "";
    us = std::abs(us);
    // Round to 3 digits first, so that 999.7µs becomes 1ms, not 1000µs.
    int magnitude = static_cast<int>(std::floor(std::log10(us)));
    double rounded = std::round(us / decimal(1, magnitude - 2)) * decimal(1, magnitude - 2);
    static constexpr std::array<std::pair<double, const char*>, 3> units{{{1e6, "s"}, {1e3, "ms"}, {1, "µs"}}};
    double value = rounded * 1000;
    const char* name = "ns";
    for (const auto& [size, unit_name] : units) {
        if (rounded >= size * (1 - tolerance)) {
            value = rounded / size;
            name = unit_name;
            break;
        }
    }
    int decimals = value < 10 ? 2 : value < 100 ? 1 : 0;
    return fmt::format("{}{}{}", sign, trimmed(fmt::format("{:.{}f}", value, decimals)), name);
}

std::string format_percentile_axis(double x) {
    if (std::isnan(x)) {
        return "";
    }
    if (x <= 1) {
        return "0%";
    }
    if (std::isinf(x)) {
        return "100%";
    }
    // x = 10^n is p = 100 - 10^(2-n): n - 2 decimals, as many as the nines.
    int decimals = std::clamp(static_cast<int>(std::ceil(std::log10(x) - tolerance)) - 2, 0, 12);
    return trimmed(fmt::format("{:.{}f}", 100 * (1 - 1 / x), decimals)) + "%";
}

std::string escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            case '\t':
            case '\n':
            case '\r':
                out += c;
                break;
            default:
                if (static_cast<unsigned char>(c) >= 0x20) {
                    out += c;
                }
        }
    }
    return out;
}

void Chart::set_x(Scale scale, double lo, double hi, std::string title, Labeler labeler, std::vector<double> ticks) {
    x_ = {scale, lo, hi, std::move(title), std::move(labeler), std::move(ticks)};
}

void Chart::set_y(Scale scale, double lo, double hi, std::string title, Labeler labeler, std::vector<double> ticks) {
    y_ = {scale, lo, hi, std::move(title), std::move(labeler), std::move(ticks)};
}

std::string Chart::render() const {
    const double left = margins_.left;
    const double top = margins_.top;
    const double right = std::max(left + 1, width_ - margins_.right);
    const double bottom = std::max(top + 1, height_ - margins_.bottom);
    const AxisScale sx(x_.scale, x_.lo, x_.hi, left, right);
    const AxisScale sy(y_.scale, y_.lo, y_.hi, bottom, top);
    const std::vector<Tick> x_ticks = ticks_of(sx, x_.ticks, x_.labeler, 6);
    const std::vector<Tick> y_ticks = ticks_of(sy, y_.ticks, y_.labeler, 5);

    std::string id;
    for (char c : id_) {
        id += std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' ? c : '_';
    }
    const std::string clip_id = id + "-plot";

    std::string out;
    append(
        out,
        R"(<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {0} {1}" width="{0}" height="{1}" class="chart" id="{2}">)"
        "\n",
        px(width_), px(height_), id);
    append(out, R"(<g font-family="sans-serif" font-size="11">)"
                "\n");
    append(out,
           R"(<clipPath id="{}"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath>)"
           "\n",
           clip_id, px(left), px(top), px(right - left), px(bottom - top));

    append(out, R"(<g class="grid" stroke="#e5e5e5" stroke-width="1">)");
    for (const Tick& t : x_ticks) {
        append(out, R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}"/>)", px(t.at), px(top), px(bottom));
    }
    for (const Tick& t : y_ticks) {
        append(out, R"(<line x1="{1}" y1="{0}" x2="{2}" y2="{0}"/>)", px(t.at), px(left), px(right));
    }
    out += "</g>\n";

    for (const Band& band : bands_) {
        double a = sx(band.x_lo);
        double b = sx(band.x_hi);
        if (std::isnan(a) || std::isnan(b) || (sx.before(a) && sx.before(b)) || (sx.after(a) && sx.after(b))) {
            continue;
        }
        double lo = sx.clamp(std::min(a, b));
        double hi = sx.clamp(std::max(a, b));
        double opacity = std::isfinite(band.opacity) ? std::clamp(band.opacity, 0.0, 1.0) : 0.07;
        append(out, R"(<g class="band"><rect x="{}" y="{}" width="{}" height="{}" fill="{}" fill-opacity="{:.3g}"/>)",
               px(lo), px(top), px(hi - lo), px(bottom - top), escape(band.color), opacity);
        // A label wider than its band would run into the next one's: left out.
        // 6 px a character is generous for 10 px sans-serif.
        if (!band.label.empty() && hi - lo >= 8 + 6 * static_cast<double>(band.label.size())) {
            append(out, R"(<text x="{}" y="{}" font-size="10" fill="#555">{}</text>)", px(lo + 4), px(top + 12),
                   escape(band.label));
        }
        out += "</g>\n";
    }

    int drawn_marks = 0;
    for (const Mark& mark : marks_) {
        double x = sx(mark.x);
        if (!std::isfinite(mark.x) || !std::isfinite(x) || sx.before(x) || sx.after(x)) {
            continue;
        }
        x = sx.clamp(x);
        append(out,
               R"(<g class="mark"><line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#666" stroke-dasharray="4 3"/>)",
               px(x), px(top), px(bottom));
        if (!mark.label.empty()) {
            // Near the right edge the label goes left of the line; alternate
            // rows keep labels of close marks (p90, p99) apart.
            bool near_right = x > left + 0.8 * (right - left);
            append(out, R"(<text x="{}" y="{}" text-anchor="{}" font-size="10" fill="#444">{}</text>)",
                   px(near_right ? x - 3 : x + 3), px(top + 10 + 12 * (drawn_marks % 2)), near_right ? "end" : "start",
                   escape(mark.label));
        }
        out += "</g>\n";
        ++drawn_marks;
    }

    append(out,
           R"~(<g clip-path="url(#{})">)~"
           "\n",
           clip_id);
    for (const Series& series : series_) {
        std::string css = series.css_class.empty() ? "series" : "series " + series.css_class;
        std::vector<std::pair<double, double>> stretch;  // pixels, since the last break
        std::string dots;
        auto draw_stretch = [&] {
            if (stretch.empty() || !series.line) {
                stretch.clear();
                return;
            }
            append(
                out,
                R"(<polyline class="{}" stroke="{}" stroke-width="1.5" fill="none" stroke-linejoin="round" points=")",
                escape(css), escape(series.color));
            for (std::size_t i = 0; i < stretch.size(); ++i) {
                append(out, "{}{},{}", i == 0 ? "" : " ", px(stretch[i].first), px(stretch[i].second));
            }
            out += '"';
            out += series.label.empty() ? "/>\n" : fmt::format("><title>{}</title></polyline>\n", escape(series.label));
            stretch.clear();
        };
        for (const Point& p : series.points) {
            double x = sx(p.x);
            double y = sy(p.y);
            if (!std::isfinite(p.x) || !std::isfinite(p.y) || !std::isfinite(x) || !std::isfinite(y)) {
                draw_stretch();
                continue;
            }
            stretch.emplace_back(x, y);
            const double r = series.dot_radius;
            if (series.dots && series.marker == Series::Marker::cross) {
                append(dots, R"(<path d="M{},{}L{},{}M{},{}L{},{}" stroke="{}" stroke-width="1.8" fill="none"/>)",
                       px(x - r), px(y - r), px(x + r), px(y + r), px(x - r), px(y + r), px(x + r), px(y - r),
                       escape(series.color));
            } else if (series.dots) {
                append(dots, R"(<circle cx="{}" cy="{}" r="{}" fill="{}"/>)", px(x), px(y), px(r),
                       escape(series.color));
            }
        }
        draw_stretch();
        out += dots;
    }
    out += "</g>\n";

    append(out,
           R"(<g class="axis" stroke="#333" stroke-width="1"><line x1="{0}" y1="{2}" x2="{1}" y2="{2}"/>)"
           R"(<line x1="{0}" y1="{3}" x2="{0}" y2="{2}"/>)",
           px(left), px(right), px(bottom), px(top));
    for (const Tick& t : x_ticks) {
        append(out, R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}"/>)", px(t.at), px(bottom), px(bottom + 4));
    }
    for (const Tick& t : y_ticks) {
        append(out, R"(<line x1="{1}" y1="{0}" x2="{2}" y2="{0}"/>)", px(t.at), px(left - 4), px(left));
    }
    out += "</g>\n";

    out += R"(<g class="tick" fill="#333">)";
    for (const Tick& t : x_ticks) {
        // The last label of an axis that ends at the right margin would be cut.
        double half = text_width(t.label, 11) / 2;
        append(out, R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)",
               px(std::max(half + 2, std::min(t.at, width_ - half - 2))), px(bottom + 17), escape(t.label));
    }
    for (const Tick& t : y_ticks) {
        append(out, R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", px(left - 7), px(t.at + 4), escape(t.label));
    }
    out += "</g>\n";

    if (!x_.title.empty()) {
        append(out,
               R"(<text class="axis-title" x="{}" y="{}" text-anchor="middle" font-size="12" fill="#333">{}</text>)"
               "\n",
               px((left + right) / 2), px(height_ - 8), escape(x_.title));
    }
    if (!y_.title.empty()) {
        // Rotated about its own anchor, the title reads bottom to top.
        double x = 16;
        double y = (top + bottom) / 2;
        append(out,
               R"~(<text class="axis-title" x="{0}" y="{1}" transform="rotate(-90 {0} {1})" text-anchor="middle" )~"
               R"(font-size="12" fill="#333">{2}</text>)"
               "\n",
               px(x), px(y), escape(y_.title));
    }
    if (!title_.empty()) {
        append(out,
               R"(<text class="title" x="{}" y="{}" font-size="13" font-weight="bold" fill="#222">{}</text>)"
               "\n",
               px(left), px(top - 10), escape(title_));
    }
    out += "</g>\n</svg>\n";
    return out;
}

}  // namespace echobench::svg
