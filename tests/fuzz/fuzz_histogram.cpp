// libFuzzer target: echobench's latency histogram against a model (every
// value kept, sorted).
//
// The input is a script. Byte 0 picks extra percentiles to probe; then each
// value is a control byte c followed by (c & 7) little-endian bytes:
//   value  = those bytes (0 bytes: the value is c >> 3, 0..31)
//   c & 8  = shift the value left by 30, so values above max_value (clamped,
//            counted as saturated) are common
//   c & 16 = record into histogram B instead of A
//   the first c == 0xff instead resets A (its values so far are forgotten).
// Then A must match the model of A's values, B of B's, and A.merge(B) the
// model of both (recorded into one histogram C for comparison), as must a
// self-merge (every value twice).
//
// Checked, for each: count; min and max exact after clamping to max_value;
// saturated; mean; percentile(q) monotonic in q, inside [min, max], exactly
// min at q <= 0 (and NaN) and max at q >= 100, and otherwise within the
// documented precision of the sorted reference at rank ceil(q/100 * count):
// a bucket is never wider than 1/128 of its lowest value and percentile()
// reports its midpoint, so the error is at most 1/256 of the true value (the
// header's "within 0.4%"); values below 256 are exact.
#include "echobench/results/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

using echobench::Histogram;

namespace {

#define CHECK(cond) check((cond), #cond, __LINE__)

void check(bool ok, const char* what, int line) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_histogram.cpp:%d: check failed: %s\n", line, what);
        std::abort();
    }
}

std::uint64_t clamp_value(std::uint64_t v) {
    return std::min(v, Histogram::max_value);
}

// The documented answer: the value at 1-based rank ceil(q/100 * n) of the
// sorted (clamped) values.
std::uint64_t reference(const std::vector<std::uint64_t>& sorted, double q) {
    if (!(q > 0)) {
        return sorted.front();
    }
    if (q >= 100) {
        return sorted.back();
    }
    auto rank = static_cast<std::uint64_t>(std::ceil(q / 100.0 * static_cast<double>(sorted.size())));
    rank = std::clamp<std::uint64_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

// Checks h against the raw (unclamped) values it was given.
void check_against_model(const Histogram& h, std::vector<std::uint64_t> raw, const std::vector<double>& probes) {
    std::uint64_t saturated = 0;
    unsigned __int128 sum = 0;
    for (std::uint64_t& v : raw) {
        if (v > Histogram::max_value) {
            ++saturated;
        }
        v = clamp_value(v);
        sum += v;
    }
    std::sort(raw.begin(), raw.end());
    CHECK(h.count() == raw.size());
    CHECK(h.saturated() == saturated);
    if (raw.empty()) {
        CHECK(h.min() == 0);
        CHECK(h.max() == 0);
        CHECK(h.mean() == 0.0);
        for (double q : probes) {
            CHECK(h.percentile(q) == 0);
        }
        return;
    }
    CHECK(h.min() == raw.front());
    CHECK(h.max() == raw.back());
    double exact_mean = static_cast<double>(static_cast<long double>(sum) / static_cast<long double>(raw.size()));
    CHECK(std::abs(h.mean() - exact_mean) <= exact_mean * 1e-12 + 1e-9);

    CHECK(h.percentile(std::numeric_limits<double>::quiet_NaN()) == h.min());
    std::uint64_t previous = 0;
    for (double q : probes) {  // probes are sorted ascending
        std::uint64_t got = h.percentile(q);
        std::uint64_t want = reference(raw, q);
        CHECK(got >= previous);  // monotonic in q
        previous = got;
        CHECK(got >= h.min() && got <= h.max());
        if (q <= 0) {
            CHECK(got == h.min());
        } else if (q >= 100) {
            CHECK(got == h.max());
        }
        std::uint64_t error = got > want ? got - want : want - got;
        if (want < 256) {
            CHECK(error == 0);
        } else {
            CHECK(error * 256 <= want);  // error <= want / 256
        }
    }
}

// Two histograms that must be indistinguishable through the public interface.
void check_same(const Histogram& a, const Histogram& b, const std::vector<double>& probes) {
    CHECK(a.count() == b.count());
    CHECK(a.min() == b.min());
    CHECK(a.max() == b.max());
    CHECK(a.saturated() == b.saturated());
    CHECK(a.mean() == b.mean());
    for (double q : probes) {
        CHECK(a.percentile(q) == b.percentile(q));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    // Percentiles to probe (each costs a scan of the buckets): the edges, the
    // ones echobench reports, and two from byte 0, near the rank boundaries
    // of small counts.
    std::vector<double> probes = {-1.0, 0.0, 1e-9, 50.0, 90.0, 99.0, 99.9, 100.0, 250.0};
    probes.push_back(static_cast<double>(data[0]) * 100.0 / 255.0);
    probes.push_back(static_cast<double>(data[0] % 17) * 100.0 / 16.0);
    std::sort(probes.begin(), probes.end());
    // Fewer for the secondary comparisons, to keep the runs fast.
    std::vector<double> few = {0.0, 50.0, probes[data[0] % probes.size()], 99.9, 100.0};
    std::sort(few.begin(), few.end());

    Histogram a;
    Histogram b;
    std::vector<std::uint64_t> values_a;
    std::vector<std::uint64_t> values_b;

    bool reset_done = false;  // one reset at most: each costs a pass over the buckets
    std::size_t i = 1;
    while (i < size) {
        std::uint8_t c = data[i++];
        if (c == 0xff && !reset_done) {  // reset a; later values must count as in a fresh one
            reset_done = true;
            a.reset();
            values_a.clear();
            check(a.count() == 0 && a.min() == 0 && a.max() == 0 && a.saturated() == 0, "reset", __LINE__);
            continue;
        }
        std::size_t n = c & 7;
        std::uint64_t value = 0;
        if (n == 0) {
            value = c >> 3;
        } else {
            for (std::size_t k = 0; k < n && i < size; ++k) {
                value |= std::uint64_t{data[i++]} << (8 * k);
            }
        }
        if ((c & 8) != 0) {
            value <<= 30;
        }
        std::size_t index = Histogram::index_of(clamp_value(value));
        CHECK(index < Histogram::bucket_count);
        CHECK(Histogram::lowest_of(index) <= clamp_value(value) && clamp_value(value) <= Histogram::highest_of(index));
        if ((c & 16) != 0) {
            b.record(value);
            values_b.push_back(value);
        } else {
            a.record(value);
            values_a.push_back(value);
        }
    }

    std::vector<double> one = {probes[data[0] % probes.size()]};
    check_against_model(a, values_a, one);
    check_against_model(b, values_b, one);

    std::vector<std::uint64_t> both = values_a;
    both.insert(both.end(), values_b.begin(), values_b.end());
    Histogram all;  // every value of a and b, recorded into one
    for (std::uint64_t v : both) {
        all.record(v);
    }
    Histogram merged = a;
    merged.merge(b);
    check_against_model(merged, both, probes);
    check_same(merged, all, few);

    // Merging the other way round is the same (merging into an empty one is
    // the case of an input with no value for a).
    Histogram other_way = b;
    other_way.merge(a);
    check_same(other_way, merged, one);

    // Self-merge: every value twice.
    Histogram twice = merged;
    twice.merge(twice);
    std::vector<std::uint64_t> doubled = both;
    doubled.insert(doubled.end(), both.begin(), both.end());
    check_against_model(twice, doubled, few);
    return 0;
}
