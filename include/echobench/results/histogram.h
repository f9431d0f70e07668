// A latency histogram of bounded size: HdrHistogram's log-linear idea.
//
// Values are nanoseconds. Below 256 ns every value has its own bucket; above,
// each power of two [2^k, 2^(k+1)) is split into 128 equal buckets, so a
// bucket is never wider than 1/128 of its lowest value. Reporting a bucket's
// midpoint keeps every percentile within 0.4% of a value that was recorded,
// from 1 ns up to max_value (about 68.7 s); larger values are clamped there
// and counted in saturated(). The counts are one fixed array of 3840 slots
// (30 KiB), whatever is recorded.
//
//   index:  0 .. 255          256 .. 383        384 .. 511      ...
//   value:  0 .. 255 (exact)  256 .. 511 step 2  512 .. 1023 step 4
//
// Pure and single-threaded: each thread records into its own histogram and
// the results are merged once the threads have stopped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace echobench {

class Histogram {
public:
    static constexpr unsigned sub_bucket_bits = 7;                            // 128 buckets per power of two
    static constexpr std::uint64_t max_value = (std::uint64_t{1} << 36) - 1;  // ns, ~68.7 s
    static constexpr std::size_t bucket_count = 3840;                         // index_of(max_value) + 1

    Histogram();

    // Counts one value (ns); values above max_value count as max_value.
    void record(std::uint64_t value_ns);
    // Adds every value of other, as if recorded here.
    void merge(const Histogram& other);
    void reset();

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ == 0 ? 0 : min_; }  // exact, 0 when empty
    std::uint64_t max() const { return max_; }                    // exact (clamped), 0 when empty
    double mean() const;                                          // 0 when empty
    std::uint64_t saturated() const { return saturated_; }        // values clamped to max_value

    // The value at or below which q percent of the values lie (q in 0..100),
    // within the bucket precision above; min() for q = 0, max() for q = 100,
    // 0 when empty. The rank is ceil(q/100 * count), as a sorted array would
    // give with 1-based ranks.
    std::uint64_t percentile(double q) const;

    // Lossless export, for merging runs from several machines. The JSON
    // object names the layout (unit, sub_bucket_bits, max_value,
    // bucket_count), then count, min, max, saturated, sum (ns, for mean())
    // and the non-empty buckets as [index, count] pairs by index:
    //   {"unit": "ns", "sub_bucket_bits": 7, "max_value": 68719476735,
    //    "bucket_count": 3840, "count": 3, "min": 900, "max": 30100,
    //    "saturated": 0, "sum": 61000, "buckets": [[900, 1], [1129, 2]]}
    struct Bucket {
        std::size_t index = 0;
        std::uint64_t count = 0;
    };
    std::vector<Bucket> buckets() const;  // the non-empty ones, by index
    std::string to_json() const;          // one line, no newline
    // Replaces the contents with what to_json wrote. Returns "" or why the
    // value is not such an object (another layout, counts that do not add
    // up, min or max outside their buckets...); out is unchanged then.
    static std::string from_json(const nlohmann::json& value, Histogram& out);

    // The bucket layout, public for the tests.
    static std::size_t index_of(std::uint64_t value);
    static std::uint64_t lowest_of(std::size_t index);
    static std::uint64_t highest_of(std::size_t index);

private:
    std::vector<std::uint64_t> counts_;  // bucket_count slots, allocated once
    std::uint64_t count_ = 0;            // values recorded
    std::uint64_t min_ = UINT64_MAX;     // smallest value (after clamping)
    std::uint64_t max_ = 0;              // largest value (after clamping)
    long double sum_ = 0;                // for mean(); long double keeps ns exact far longer
    std::uint64_t saturated_ = 0;        // values above max_value
};

}  // namespace echobench
