#include "echod/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace echod {

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

}  // namespace echod
