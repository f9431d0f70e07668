#include "echobench/results/histogram.h"

#include "echobench/results/json.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>
#include <utility>

namespace echobench {

Histogram::Histogram() : counts_(bucket_count, 0) {}

std::size_t Histogram::index_of(std::uint64_t value) {
    // shift is how many low bits a bucket ignores: 0 below 256, then one more
    // per power of two. (shift << 7) + (value >> shift) makes the index
    // contiguous across powers: 255 -> 255, 256 -> 256, 511 -> 383, 512 -> 384.
    int msb = 63 - std::countl_zero(value | 1);
    int shift = std::max(0, msb - static_cast<int>(sub_bucket_bits));
    return (static_cast<std::size_t>(shift) << sub_bucket_bits) + static_cast<std::size_t>(value >> shift);
}

std::uint64_t Histogram::lowest_of(std::size_t index) {
    constexpr std::size_t sub = std::size_t{1} << sub_bucket_bits;
    if (index < 2 * sub) {
        return index;
    }
    std::size_t shift = index / sub - 1;
    std::uint64_t mantissa = index - shift * sub;  // 128..255
    return mantissa << shift;
}

std::uint64_t Histogram::highest_of(std::size_t index) {
    constexpr std::size_t sub = std::size_t{1} << sub_bucket_bits;
    std::size_t shift = index < 2 * sub ? 0 : index / sub - 1;
    return lowest_of(index) + ((std::uint64_t{1} << shift) - 1);
}

void Histogram::record(std::uint64_t value_ns) {
    if (value_ns > max_value) {
        value_ns = max_value;
        ++saturated_;
    }
    ++counts_[index_of(value_ns)];
    ++count_;
    min_ = std::min(min_, value_ns);
    max_ = std::max(max_, value_ns);
    sum_ += static_cast<long double>(value_ns);
}

void Histogram::merge(const Histogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i) {
        counts_[i] += other.counts_[i];
    }
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
    saturated_ += other.saturated_;
}

void Histogram::reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = 0;
    min_ = UINT64_MAX;
    max_ = 0;
    sum_ = 0;
    saturated_ = 0;
}

double Histogram::mean() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t Histogram::percentile(double q) const {
    if (count_ == 0) {
        return 0;
    }
    if (!(q > 0)) {  // also NaN
        return min();
    }
    if (q >= 100) {
        return max_;
    }
    auto rank = static_cast<std::uint64_t>(std::ceil(q / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            // The midpoint halves the worst-case error; the exact extremes
            // are better still when the rank falls in their bucket.
            std::uint64_t low = lowest_of(i);
            std::uint64_t mid = low + (highest_of(i) - low) / 2;
            return std::clamp(mid, min_, max_);
        }
    }
    return max_;
}

std::vector<Histogram::Bucket> Histogram::buckets() const {
    std::vector<Bucket> out;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        if (counts_[i] != 0) {
            out.push_back({i, counts_[i]});
        }
    }
    return out;
}

std::string Histogram::to_json() const {
    std::string out = fmt::format(R"({{"unit": "ns", "sub_bucket_bits": {}, "max_value": {}, "bucket_count": {}, )"
                                  R"("count": {}, "min": {}, "max": {}, "saturated": {}, "sum": )",
                                  sub_bucket_bits, max_value, bucket_count, count_, min(), max_, saturated_);
    // The sum of whole nanoseconds is a whole number; past 2^64 ns (584
    // years of latency) it can only be approximate anyway.
    if (sum_ < 18446744073709551615.0L) {
        out += fmt::format("{}", static_cast<std::uint64_t>(sum_));
    } else {
        out += fmt::format("{:.17g}", static_cast<double>(sum_));
    }
    out += R"(, "buckets": [)";
    const char* separator = "";
    for (const Bucket& b : buckets()) {
        out += fmt::format("{}[{}, {}]", separator, b.index, b.count);
        separator = ", ";
    }
    return out + "]}";
}

std::string Histogram::from_json(const nlohmann::json& value, Histogram& out) {
    if (!value.is_object()) {
        return "the histogram is not an object";
    }
    auto uint_field = [&value](const char* name, std::uint64_t& field) -> std::string {
        auto v = value.find(name);
        if (v == value.end()) {
            return fmt::format("histogram: no \"{}\"", name);
        }
        auto n = json_uint(*v);
        if (!n) {
            return fmt::format("histogram: \"{}\" is not a whole number", name);
        }
        field = *n;
        return {};
    };
    if (auto unit = value.find("unit"); unit == value.end() || *unit != "ns") {
        return R"(histogram: "unit" is not "ns")";
    }
    std::uint64_t bits = 0;
    std::uint64_t top = 0;
    std::uint64_t slots = 0;
    std::uint64_t count = 0;
    std::uint64_t low = 0;
    std::uint64_t high = 0;
    std::uint64_t saturated = 0;
    for (auto [name, field] : {std::pair{"sub_bucket_bits", &bits}, std::pair{"max_value", &top},
                               std::pair{"bucket_count", &slots}, std::pair{"count", &count}, std::pair{"min", &low},
                               std::pair{"max", &high}, std::pair{"saturated", &saturated}}) {
        if (std::string error = uint_field(name, *field); !error.empty()) {
            return error;
        }
    }
    if (bits != sub_bucket_bits || top != max_value || slots != bucket_count) {
        return fmt::format(
            "histogram layout (sub_bucket_bits {}, max_value {}, bucket_count {}) differs from "
            "this echobench's ({}, {}, {})",
            bits, top, slots, sub_bucket_bits, max_value, bucket_count);
    }
    auto sum_value = value.find("sum");
    long double sum = 0;
    if (sum_value == value.end()) {
        return R"(histogram: no "sum")";
    }
    if (auto n = json_uint(*sum_value)) {
        sum = static_cast<long double>(*n);
    } else if (auto d = json_double(*sum_value); d && *d >= 0) {
        sum = *d;
    } else {
        return R"(histogram: "sum" is not a number of nanoseconds)";
    }
    auto list = value.find("buckets");
    if (list == value.end() || !list->is_array()) {
        return R"(histogram: "buckets" is not an array)";
    }

    Histogram h;
    std::uint64_t total = 0;
    std::size_t first = bucket_count;
    std::size_t last = 0;
    for (const nlohmann::json& item : *list) {
        std::optional<std::uint64_t> index;
        std::optional<std::uint64_t> n;
        if (item.is_array() && item.size() == 2) {
            index = json_uint(item[0]);
            n = json_uint(item[1]);
        }
        if (!index || !n || *n == 0) {
            return "histogram: a bucket is not [index, count] with a count above 0";
        }
        if (*index >= bucket_count) {
            return fmt::format("histogram: bucket index {} is out of range 0..{}", *index, bucket_count - 1);
        }
        auto i = static_cast<std::size_t>(*index);
        if (first != bucket_count && i <= last) {
            return fmt::format("histogram: bucket {} is out of order or repeated", i);
        }
        if (*n > UINT64_MAX - total) {
            return "histogram: the bucket counts overflow";
        }
        first = std::min(first, i);
        last = i;
        total += *n;
        h.counts_[i] = *n;
    }
    if (total != count) {
        return fmt::format("histogram: the buckets hold {} values, \"count\" says {}", total, count);
    }
    if (count == 0) {
        if (low != 0 || high != 0 || saturated != 0 || sum != 0) {
            return "histogram: an empty histogram with a min, max, saturated or sum";
        }
        out = std::move(h);
        return {};
    }
    if (low > high || high > max_value || index_of(low) != first || index_of(high) != last) {
        return "histogram: min or max does not fall in the first or last bucket";
    }
    if (saturated > count || (saturated > 0 && high != max_value)) {
        return "histogram: \"saturated\" does not match the values";
    }
    const auto n = static_cast<long double>(count);
    if (sum < static_cast<long double>(low) * n || sum > static_cast<long double>(high) * n) {
        return "histogram: \"sum\" does not lie between count x min and count x max";
    }
    h.count_ = count;
    h.min_ = low;
    h.max_ = high;
    h.saturated_ = saturated;
    h.sum_ = sum;
    out = std::move(h);
    return {};
}

}  // namespace echobench
