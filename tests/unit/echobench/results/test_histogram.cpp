#include "echobench/results/histogram.h"

#include "echobench/results/json.h"

#include "doctest_include.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using echobench::Histogram;

namespace {

// The 1-based rank ceil(q/100 * n) of a sorted array: what percentile() promises.
std::uint64_t reference_percentile(const std::vector<std::uint64_t>& sorted, double q) {
    auto rank = static_cast<std::size_t>(std::ceil(q / 100.0 * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

// Within 1% of the reference (the bucket layout promises better: 1/256).
void check_close(std::uint64_t got, std::uint64_t want) {
    double error = std::abs(static_cast<double>(got) - static_cast<double>(want));
    CHECK_MESSAGE(error <= static_cast<double>(want) * 0.01, "got ", got, " want ", want);
}

}  // namespace

TEST_CASE("empty histogram reports zeros") {
    Histogram h;
    CHECK(h.count() == 0);
    CHECK(h.min() == 0);
    CHECK(h.max() == 0);
    CHECK(h.mean() == 0.0);
    CHECK(h.percentile(50) == 0);
    CHECK(h.percentile(100) == 0);
}

TEST_CASE("bucket layout is contiguous, ordered and fine enough") {
    CHECK(Histogram::index_of(0) == 0);
    CHECK(Histogram::index_of(255) == 255);
    CHECK(Histogram::index_of(256) == 256);
    CHECK(Histogram::index_of(511) == 383);
    CHECK(Histogram::index_of(512) == 384);
    CHECK(Histogram::index_of(Histogram::max_value) == Histogram::bucket_count - 1);
    for (std::size_t i = 0; i < Histogram::bucket_count; ++i) {
        std::uint64_t low = Histogram::lowest_of(i);
        std::uint64_t high = Histogram::highest_of(i);
        REQUIRE(Histogram::index_of(low) == i);
        REQUIRE(Histogram::index_of(high) == i);
        if (i + 1 < Histogram::bucket_count) {
            REQUIRE(Histogram::lowest_of(i + 1) == high + 1);
        }
        // A bucket's half-width is at most 1/256 of its values: 1% with room.
        REQUIRE(static_cast<double>(high - low) / 2 <= static_cast<double>(low) / 256.0 + 0.5);
    }
}

TEST_CASE("single values are exact at the extremes") {
    SUBCASE("one value") {
        Histogram h;
        h.record(12345);
        CHECK(h.count() == 1);
        CHECK(h.min() == 12345);
        CHECK(h.max() == 12345);
        CHECK(h.percentile(0) == 12345);
        CHECK(h.percentile(50) == 12345);  // clamped to [min, max]
        CHECK(h.percentile(99.9) == 12345);
        CHECK(h.percentile(100) == 12345);
    }
    SUBCASE("zero") {
        Histogram h;
        h.record(0);
        CHECK(h.count() == 1);
        CHECK(h.min() == 0);
        CHECK(h.max() == 0);
        CHECK(h.percentile(50) == 0);
    }
    SUBCASE("1 us and 60 s, the documented range") {
        Histogram h;
        h.record(1000);
        h.record(60'000'000'000);
        CHECK(h.min() == 1000);
        CHECK(h.max() == 60'000'000'000);
        check_close(h.percentile(50), 1000);  // a bucket's midpoint, not exact
        check_close(h.percentile(99), 60'000'000'000);
        CHECK(h.saturated() == 0);
    }
}

TEST_CASE("values above the range are clamped and counted") {
    Histogram h;
    h.record(Histogram::max_value + 1);
    h.record(UINT64_MAX);
    h.record(5);
    CHECK(h.count() == 3);
    CHECK(h.saturated() == 2);
    CHECK(h.max() == Histogram::max_value);
    CHECK(h.percentile(100) == Histogram::max_value);
    CHECK(h.min() == 5);
}

TEST_CASE("percentiles match a sorted reference on random data") {
    std::mt19937_64 rng(20240601);
    SUBCASE("log-uniform from 1 us to 60 s") {
        std::vector<std::uint64_t> values;
        values.reserve(200000);
        std::uniform_real_distribution<double> exponent(3.0, std::log10(60e9));
        for (int i = 0; i < 200000; ++i) {
            values.push_back(static_cast<std::uint64_t>(std::pow(10.0, exponent(rng))));
        }
        Histogram h;
        for (std::uint64_t v : values) {
            h.record(v);
        }
        std::sort(values.begin(), values.end());
        REQUIRE(h.count() == values.size());
        CHECK(h.min() == values.front());
        CHECK(h.max() == values.back());
        for (double q : {0.1, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99}) {
            CAPTURE(q);
            check_close(h.percentile(q), reference_percentile(values, q));
        }
    }
    SUBCASE("a narrow latency-like distribution with a long tail") {
        std::vector<std::uint64_t> values;
        values.reserve(100000);
        std::lognormal_distribution<double> latency(std::log(30000.0), 0.5);
        for (int i = 0; i < 100000; ++i) {
            values.push_back(static_cast<std::uint64_t>(latency(rng)));
        }
        Histogram h;
        for (std::uint64_t v : values) {
            h.record(v);
        }
        std::sort(values.begin(), values.end());
        for (double q : {50.0, 90.0, 99.0, 99.9}) {
            CAPTURE(q);
            check_close(h.percentile(q), reference_percentile(values, q));
        }
        double mean = 0;
        for (std::uint64_t v : values) {
            mean += static_cast<double>(v);
        }
        mean /= static_cast<double>(values.size());
        CHECK(h.mean() == doctest::Approx(mean).epsilon(1e-9));
    }
}

TEST_CASE("merge equals recording everything in one") {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::uint64_t> value(1, 10'000'000);
    // As the load client does: one histogram per thread, merged at the end.
    std::vector<Histogram> per_thread(4);
    Histogram all;
    std::vector<std::uint64_t> values;
    for (int i = 0; i < 40000; ++i) {
        std::uint64_t v = value(rng);
        per_thread[static_cast<std::size_t>(i) % per_thread.size()].record(v);
        all.record(v);
        values.push_back(v);
    }
    Histogram merged;
    for (const Histogram& h : per_thread) {
        merged.merge(h);
    }
    std::sort(values.begin(), values.end());
    CHECK(merged.count() == all.count());
    CHECK(merged.min() == values.front());
    CHECK(merged.max() == values.back());
    for (double q : {0.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
        CAPTURE(q);
        CHECK(merged.percentile(q) == all.percentile(q));
        check_close(merged.percentile(q), reference_percentile(values, q));
    }

    SUBCASE("merging an empty histogram changes nothing") {
        Histogram before = merged;
        merged.merge(Histogram{});
        CHECK(merged.count() == before.count());
        CHECK(merged.min() == before.min());
        CHECK(merged.percentile(50) == before.percentile(50));
    }
    SUBCASE("reset empties it") {
        merged.reset();
        CHECK(merged.count() == 0);
        CHECK(merged.percentile(99) == 0);
        merged.record(42);
        CHECK(merged.min() == 42);
    }
}

// --- Lossless JSON, for echobench --merge --------------------------------------

namespace {

Histogram round_trip(const Histogram& h) {
    nlohmann::json value;
    REQUIRE(echobench::parse_json(h.to_json(), value).empty());
    Histogram back;
    back.record(1);  // from_json replaces, it does not add
    std::string error = Histogram::from_json(value, back);
    INFO(error);
    REQUIRE(error.empty());
    return back;
}

void check_identical(const Histogram& a, const Histogram& b) {
    CHECK(a.count() == b.count());
    CHECK(a.min() == b.min());
    CHECK(a.max() == b.max());
    CHECK(a.saturated() == b.saturated());
    CHECK(a.mean() == b.mean());
    for (double q = 0; q <= 100.0; q += 0.5) {
        CAPTURE(q);
        REQUIRE(a.percentile(q) == b.percentile(q));
    }
    for (double q : {99.9, 99.99, 99.999}) {
        CHECK(a.percentile(q) == b.percentile(q));
    }
    std::vector<Histogram::Bucket> ab = a.buckets();
    std::vector<Histogram::Bucket> bb = b.buckets();
    REQUIRE(ab.size() == bb.size());
    for (std::size_t i = 0; i < ab.size(); ++i) {
        CHECK(ab[i].index == bb[i].index);
        CHECK(ab[i].count == bb[i].count);
    }
}

std::string from_json_error(const std::string& text) {
    nlohmann::json value;
    std::string error = echobench::parse_json(text, value);
    if (!error.empty()) {
        return error;
    }
    Histogram h;
    return Histogram::from_json(value, h);
}

}  // namespace

TEST_CASE("JSON round trip is lossless") {
    SUBCASE("empty") {
        Histogram h;
        CHECK(h.to_json() == R"({"unit": "ns", "sub_bucket_bits": 7, "max_value": 68719476735, "bucket_count": 3840, )"
                             R"("count": 0, "min": 0, "max": 0, "saturated": 0, "sum": 0, "buckets": []})");
        check_identical(h, round_trip(h));
    }
    SUBCASE("a few values, the format") {
        Histogram h;
        h.record(900);
        h.record(30000);
        h.record(30050);
        CHECK(h.to_json() == R"({"unit": "ns", "sub_bucket_bits": 7, "max_value": 68719476735, "bucket_count": 3840, )"
                             R"("count": 3, "min": 900, "max": 30050, "saturated": 0, "sum": 60950, )"
                             R"("buckets": [[481, 1], [1130, 2]]})");
        check_identical(h, round_trip(h));
    }
    SUBCASE("random latencies, saturated values and the extremes") {
        std::mt19937_64 rng(99);
        std::lognormal_distribution<double> latency(std::log(30000.0), 1.5);
        Histogram h;
        for (int i = 0; i < 100000; ++i) {
            h.record(static_cast<std::uint64_t>(latency(rng)));
        }
        h.record(0);
        h.record(UINT64_MAX);
        h.record(Histogram::max_value);
        check_identical(h, round_trip(h));
        CHECK(round_trip(h).saturated() == 1);
    }
}

TEST_CASE("merging deserialized histograms equals recording the union") {
    // Two load machines: each records its own samples and writes its file;
    // the merge reads both. One histogram over all the samples is the truth.
    std::mt19937_64 rng(2024);
    std::lognormal_distribution<double> fast(std::log(20000.0), 0.4);
    std::lognormal_distribution<double> slow(std::log(90000.0), 0.8);
    Histogram a;
    Histogram b;
    Histogram all;
    std::vector<std::uint64_t> values;
    for (int i = 0; i < 50000; ++i) {
        std::uint64_t v = static_cast<std::uint64_t>(fast(rng));
        a.record(v);
        all.record(v);
        values.push_back(v);
    }
    for (int i = 0; i < 20000; ++i) {
        std::uint64_t v = static_cast<std::uint64_t>(slow(rng));
        b.record(v);
        all.record(v);
        values.push_back(v);
    }
    Histogram merged = round_trip(a);
    merged.merge(round_trip(b));
    check_identical(merged, all);
    // And not the average of the two runs' percentiles, which is wrong here.
    CHECK(merged.percentile(99) != (a.percentile(99) + b.percentile(99)) / 2);
    std::sort(values.begin(), values.end());
    for (double q : {50.0, 90.0, 99.0, 99.9}) {
        CAPTURE(q);
        check_close(merged.percentile(q), reference_percentile(values, q));
    }
    // Merges compose: a merged histogram written and read again is the same.
    check_identical(round_trip(merged), all);
}

TEST_CASE("malformed or foreign histograms are refused") {
    const std::string good =
        R"({"unit": "ns", "sub_bucket_bits": 7, "max_value": 68719476735, "bucket_count": 3840, )"
        R"("count": 3, "min": 900, "max": 30050, "saturated": 0, "sum": 60950, "buckets": [[481, 1], [1130, 2]]})";
    CHECK(from_json_error(good).empty());
    auto with = [&good](const std::string& from, const std::string& to) {
        std::string text = good;
        auto at = text.find(from);
        REQUIRE(at != std::string::npos);
        return text.replace(at, from.size(), to);
    };
    struct Case {
        std::string text;
        std::string error;  // a part of the reason
    };
    const Case cases[] = {
        {"[]", "not an object"},
        {with(R"("unit": "ns")", R"("unit": "us")"), "unit"},
        {with(R"("sub_bucket_bits": 7)", R"("sub_bucket_bits": 8)"), "layout"},
        {with(R"("bucket_count": 3840)", R"("bucket_count": 4096)"), "layout"},
        {with(R"("max_value": 68719476735)", R"("max_value": 1000)"), "layout"},
        {with(R"("count": 3)", R"("count": 4)"), "the buckets hold 3 values"},
        {with(R"("count": 3, )", ""), R"(no "count")"},
        {with(R"("count": 3)", R"("count": -3)"), "whole number"},
        {with(R"("count": 3)", R"("count": 3.0)"), "whole number"},
        {with(R"("count": 3)", R"("count": "3")"), "whole number"},
        {with(R"("count": 3)", R"("count": 18446744073709551616)"), "whole number"},
        {with("[481, 1]", "[481, 0]"), "count above 0"},
        {with("[481, 1]", "[481]"), "[index, count]"},
        {with("[481, 1]", "[3840, 1]"), "out of range"},
        {with("[481, 1], [1130, 2]", "[1130, 2], [481, 1]"), "out of order"},
        {with("[481, 1], [1130, 2]", "[481, 1], [481, 2]"), "out of order"},
        {with(R"("min": 900)", R"("min": 800)"), "min or max"},
        {with(R"("max": 30050)", R"("max": 31000)"), "min or max"},
        {with(R"("saturated": 0)", R"("saturated": 1)"), "saturated"},
        {with(R"("sum": 60950)", R"("sum": 5)"), "sum"},
        {with(R"("sum": 60950)", R"("sum": -1)"), "sum"},
        {with(R"("buckets": [[481, 1], [1130, 2]])", R"("buckets": {})"), "buckets"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.text);
        std::string error = from_json_error(c.text);
        CAPTURE(error);
        CHECK(error.find(c.error) != std::string::npos);
    }
    // Nothing half-read: a refused value leaves the histogram as it was.
    nlohmann::json value;
    REQUIRE(echobench::parse_json(with(R"("count": 3)", R"("count": 4)"), value).empty());
    Histogram h;
    h.record(42);
    CHECK_FALSE(Histogram::from_json(value, h).empty());
    CHECK(h.count() == 1);
    CHECK(h.min() == 42);
}
