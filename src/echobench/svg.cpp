#include "echod/svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>

namespace echod::svg {

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
    if (us < 0) {
        return "-" + format_latency_us(-us);
    }
    if (us == 0) {
        return "0";
    }
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
    return trimmed(fmt::format("{:.{}f}", value, decimals)) + name;
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

}  // namespace echod::svg
