#include "echobench/results/timeline.h"

#include "doctest_include.h"

#include <cstdint>
#include <vector>

using echobench::TimelineInterval;
using echobench::TimelineMerger;
using echobench::TimelineSample;

namespace {

// Interval index of one worker: msgs echoes of latency_ns each.
TimelineInterval interval(std::uint64_t index, std::uint64_t msgs, std::uint32_t connections,
                          std::uint64_t latency_ns = 1000) {
    TimelineInterval out;
    out.index = index;
    out.msgs = msgs;
    out.connections = connections;
    for (std::uint64_t i = 0; i < msgs; ++i) {
        out.latency.record(latency_ns);
    }
    return out;
}

}  // namespace

TEST_CASE("a sample is made once every worker has handed its interval in") {
    TimelineMerger merger(2);
    merger.add(interval(0, 10, 3));
    merger.add(interval(1, 20, 3));
    CHECK(merger.samples().empty());  // worker 1 has handed in nothing yet
    merger.add(interval(0, 5, 2));
    REQUIRE(merger.samples().size() == 1);
    CHECK(merger.samples()[0].t_s == 0);
    CHECK(merger.samples()[0].msgs == 15);
    CHECK(merger.samples()[0].connections == 5);
    merger.add(interval(1, 1, 2));
    REQUIRE(merger.samples().size() == 2);
    CHECK(merger.samples()[1].t_s == 1);
    CHECK(merger.samples()[1].msgs == 21);
}

TEST_CASE("p99 comes from every worker's echoes together") {
    TimelineMerger merger(2);
    // 98 fast echoes on one worker, 2 slow ones on the other: the 99th
    // percentile of the 100 is slow, though neither worker's p99 alone says so
    // for the first.
    merger.add(interval(0, 98, 1, 1000));
    merger.add(interval(0, 2, 1, 500000));
    REQUIRE(merger.samples().size() == 1);
    REQUIRE(merger.samples()[0].p99_ns.has_value());
    CHECK(*merger.samples()[0].p99_ns == doctest::Approx(500000).epsilon(0.005));
}

TEST_CASE("a second without echoes has no p99") {
    TimelineMerger merger(1);
    merger.add(interval(0, 0, 4));
    REQUIRE(merger.samples().size() == 1);
    CHECK_FALSE(merger.samples()[0].p99_ns.has_value());
    CHECK(merger.samples()[0].msgs_per_sec() == 0);
}

TEST_CASE("finish cuts the timeline at the window's end") {
    SUBCASE("inside an interval: that one ends there, later ones go") {
        TimelineMerger merger(1);
        for (std::uint64_t k = 0; k < 5; ++k) {
            merger.add(interval(k, 100, 1));
        }
        std::vector<TimelineSample> samples = merger.finish(2.5);
        REQUIRE(samples.size() == 3);
        CHECK(samples[2].t_s == 2);
        CHECK(samples[2].dt_s == doctest::Approx(0.5));
        CHECK(samples[2].msgs_per_sec() == doctest::Approx(200));
        CHECK(samples[1].dt_s == 1);
    }
    SUBCASE("on a boundary: the interval that starts there goes") {
        TimelineMerger merger(1);
        for (std::uint64_t k = 0; k < 3; ++k) {
            merger.add(interval(k, 1, 1));
        }
        CHECK(merger.finish(2).size() == 2);
    }
    SUBCASE("pending intervals become samples even if a worker fell short") {
        TimelineMerger merger(2);
        merger.add(interval(0, 1, 1));
        merger.add(interval(1, 1, 1));
        merger.add(interval(0, 1, 1));
        std::vector<TimelineSample> samples = merger.finish(10);
        REQUIRE(samples.size() == 2);
        CHECK(samples[0].msgs == 2);
        CHECK(samples[1].msgs == 1);
    }
    SUBCASE("an empty window, at 0") {
        TimelineMerger merger(1);
        merger.add(interval(0, 0, 0));
        CHECK(merger.finish(0).empty());
    }
}

TEST_CASE("finish folds a last fragment under a quarter of a second into the second before it") {
    // A fragment of a few ms would be drawn as a rate and a p99 of its own
    // at the right edge, from a handful of echoes: a spike readers take for
    // an event.
    SUBCASE("0.011 s: folded, msgs added, p99 of both seconds' echoes, dt extended") {
        TimelineMerger merger(1);
        merger.add(interval(0, 100, 2));
        merger.add(interval(1, 100, 3, 1000));
        merger.add(interval(2, 2, 1, 900000));  // two slow echoes in the fragment
        std::vector<TimelineSample> samples = merger.finish(2.011);
        REQUIRE(samples.size() == 2);
        CHECK(samples[1].t_s == 1);
        CHECK(samples[1].dt_s == doctest::Approx(1.011));
        CHECK(samples[1].msgs == 102);
        CHECK(samples[1].msgs_per_sec() == doctest::Approx(102 / 1.011));
        CHECK(samples[1].connections == 1);  // open at its end, the fragment's
        // 102 echoes, 2 slow: the 99th percentile (rank 101) is slow; neither
        // second's own p99 is the merged one (1000 ns alone, 900000 ns alone).
        REQUIRE(samples[1].p99_ns.has_value());
        CHECK(*samples[1].p99_ns == doctest::Approx(900000).epsilon(0.005));
        CHECK(samples[0].dt_s == 1);
        CHECK(samples[0].msgs == 100);
    }
    SUBCASE("0.3 s: kept as a sample of its own") {
        TimelineMerger merger(1);
        merger.add(interval(0, 100, 2));
        merger.add(interval(1, 30, 2));
        std::vector<TimelineSample> samples = merger.finish(1.3);
        REQUIRE(samples.size() == 2);
        CHECK(samples[1].t_s == 1);
        CHECK(samples[1].dt_s == doctest::Approx(0.3));
        CHECK(samples[1].msgs == 30);
        CHECK(samples[0].dt_s == 1);
    }
    SUBCASE("a run shorter than a quarter of a second keeps its only sample") {
        TimelineMerger merger(1);
        merger.add(interval(0, 10, 1));
        std::vector<TimelineSample> samples = merger.finish(0.2);
        REQUIRE(samples.size() == 1);
        CHECK(samples[0].dt_s == doctest::Approx(0.2));
    }
    SUBCASE("seconds handed in after the window do not stop the fold") {
        // The workers drain for up to a second after the window ends.
        TimelineMerger merger(1);
        for (std::uint64_t k = 0; k < 6; ++k) {
            merger.add(interval(k, 10, 1, k == 3 ? 900000 : 1000));
        }
        std::vector<TimelineSample> samples = merger.finish(3.1);
        REQUIRE(samples.size() == 3);
        CHECK(samples[2].dt_s == doctest::Approx(1.1));
        CHECK(samples[2].msgs == 20);
        REQUIRE(samples[2].p99_ns.has_value());
        CHECK(*samples[2].p99_ns == doctest::Approx(900000).epsilon(0.005));
    }
}

TEST_CASE("finish gives every length in whole milliseconds, as --json writes them") {
    // The page and the JSON must draw the same rate from the same numbers.
    TimelineMerger merger(1);
    merger.add(interval(0, 10, 1));
    merger.add(interval(1, 10, 1));
    std::vector<TimelineSample> samples = merger.finish(1.4567891);
    REQUIRE(samples.size() == 2);
    CHECK(samples[1].dt_s == 0.457);
}

TEST_CASE("an interval handed in twice does not count twice once complete") {
    TimelineMerger merger(1);
    merger.add(interval(0, 7, 1));
    merger.add(interval(0, 7, 1));
    REQUIRE(merger.samples().size() == 1);
    CHECK(merger.samples()[0].msgs == 7);
}

TEST_CASE("merge_timelines adds concurrent runs up by second, without p99") {
    TimelineSample a0{0, 1, 100, 5000, 10};
    TimelineSample a1{1, 0.5, 40, 6000, 10};
    TimelineSample b0{0, 1, 50, 7000, 5};
    std::vector<TimelineSample> merged = echobench::merge_timelines({{a0, a1}, {b0}});
    REQUIRE(merged.size() == 2);
    CHECK(merged[0].msgs == 150);
    CHECK(merged[0].connections == 15);
    CHECK_FALSE(merged[0].p99_ns.has_value());
    CHECK(merged[1].msgs == 40);
    CHECK(merged[1].dt_s == doctest::Approx(0.5));
    CHECK_FALSE(merged[1].p99_ns.has_value());
}

TEST_CASE("coarsen_timeline: spans of seconds for drawing a long run") {
    // Seconds 0..4; the last one short, second 2 without echoes.
    std::vector<TimelineSample> s = {
        {0, 1, 100, 5000, 3}, {1, 1, 300, 9000, 4},  {2, 1, 0, std::nullopt, 4},
        {3, 1, 50, 2000, 2},  {4, 0.5, 10, 1000, 1},
    };
    SUBCASE("width 1 changes nothing") {
        std::vector<TimelineSample> same = echobench::coarsen_timeline(s, 1);
        REQUIRE(same.size() == s.size());
        CHECK(same[4].dt_s == doctest::Approx(0.5));
    }
    SUBCASE("width 2: rate is the mean, p99 and connections the highest") {
        std::vector<TimelineSample> c = echobench::coarsen_timeline(s, 2);
        REQUIRE(c.size() == 3);
        CHECK(c[0].t_s == 0);
        CHECK(c[0].dt_s == doctest::Approx(2));
        CHECK(c[0].msgs == 400);
        CHECK(c[0].msgs_per_sec() == doctest::Approx(200));
        CHECK(c[0].p99_ns == 9000);
        CHECK(c[0].connections == 4);
        // A second without echoes does not hide the next one's p99.
        CHECK(c[1].t_s == 2);
        CHECK(c[1].p99_ns == 2000);
        CHECK(c[1].msgs == 50);
        // The last span is what is left: one short second.
        CHECK(c[2].t_s == 4);
        CHECK(c[2].dt_s == doctest::Approx(0.5));
        CHECK(c[2].msgs_per_sec() == doctest::Approx(20));
    }
    SUBCASE("wider than the run: one span, every second in it") {
        std::vector<TimelineSample> c = echobench::coarsen_timeline(s, 10);
        REQUIRE(c.size() == 1);
        CHECK(c[0].dt_s == doctest::Approx(4.5));
        CHECK(c[0].msgs == 460);
        CHECK(c[0].p99_ns == 9000);
    }
    SUBCASE("spans without any echo have no p99") {
        std::vector<TimelineSample> quiet = {{0, 1, 0, std::nullopt, 1}, {1, 1, 0, std::nullopt, 1}};
        std::vector<TimelineSample> c = echobench::coarsen_timeline(quiet, 2);
        REQUIRE(c.size() == 1);
        CHECK_FALSE(c[0].p99_ns.has_value());
    }
}
