#include "doctest_include.h"

#include "echod/faults.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

using echod::DelayQueue;
using echod::Fault;
using echod::FaultConfig;
using echod::FaultEnd;
using echod::FaultShaper;

namespace {

FaultConfig faults_of(std::initializer_list<const char*> specs) {
    FaultConfig config;
    for (const char* spec : specs) {
        std::string error = echod::add_fault(spec, config);
        INFO(spec, ": ", error);
        REQUIRE(error.empty());
    }
    return config;
}

std::string error_of(const char* spec) {
    FaultConfig config;
    return echod::add_fault(spec, config);
}

constexpr std::uint64_t ms = 1000;  // microseconds

}  // namespace

TEST_CASE("fault specs: each fault, its value and its one parameter") {
    FaultConfig c = faults_of({"slice=7,pause=0.001", "delay=0.002,jitter=0.001", "rate=1MiB", "close=1KiB"});
    CHECK(c.slice == 7);
    CHECK(c.slice_pause_us == 1000);
    CHECK(c.delay);
    CHECK(c.delay_us == 2000);
    CHECK(c.jitter_us == 1000);
    CHECK(c.rate == 1048576);
    CHECK(c.end == FaultEnd::close);
    CHECK(c.end_after == 1024);
    CHECK(c.shapes_writes());
    CHECK(c.any());
    CHECK(faults_of({"reset=0"}).end == FaultEnd::reset);
    CHECK(faults_of({"stall=5"}).end_after == 5);
    CHECK(faults_of({"drop=0.25"}).drop == doctest::Approx(0.25));
    CHECK(faults_of({"delay=0"}).delay);
    CHECK_FALSE(FaultConfig{}.any());
    CHECK_FALSE(faults_of({"close=1"}).shapes_writes());
}

TEST_CASE("fault specs: the same fault again replaces it, its parameter too") {
    FaultConfig c = faults_of({"slice=7,pause=0.5", "slice=3", "close=10", "close=20"});
    CHECK(c.slice == 3);
    CHECK(c.slice_pause_us == 0);
    CHECK(c.end_after == 20);
    c.seed = 42;
    CHECK(echod::describe_faults(c) == "slice=3 close=20 (share 1, seed 42)");
}

TEST_CASE("fault specs: every error names the spec, and a failed spec changes nothing") {
    CHECK(error_of("bogus=1").starts_with("'bogus=1': unknown fault (one of slice=SIZE"));
    CHECK(error_of("").starts_with("'': unknown fault"));
    CHECK(error_of("slice") == "'slice': needs a value (slice=...)");
    CHECK(error_of("slice=") ==
          "'slice=': '' is not a size (a whole number of bytes, optionally with K, KiB, M or MiB)");
    CHECK(error_of("slice=0") == "'slice=0': 0 is out of range 1B..256MiB");
    CHECK(error_of("slice=1,pause=x") == "'slice=1,pause=x': pause: 'x' is not a number of seconds");
    CHECK(error_of("slice=1,pause=61") == "'slice=1,pause=61': pause: 61 is out of range 0..60");
    CHECK(error_of("slice=1,jitter=1") ==
          "'slice=1,jitter=1': unknown parameter 'jitter=1' (slice takes pause=SECONDS)");
    CHECK(error_of("delay=-1") == "'delay=-1': '-1' is not a number of seconds");
    CHECK(error_of("delay=3601") == "'delay=3601': 3601 is out of range 0..3600");
    CHECK(error_of("rate=0") == "'rate=0': 0 is out of range 1B..4096MiB");
    CHECK(error_of("rate=1K,pause=1") == "'rate=1K,pause=1': rate takes no parameters");
    CHECK(error_of("drop=1.5") == "'drop=1.5': 1.5 is out of range 0..1");
    CHECK(error_of("drop=x") == "'drop=x': 'x' is not a number from 0 to 1");
    CHECK(error_of("slice=99999999999999999999")
              .starts_with("'slice=99999999999999999999': 99999999999999999999 is out of range"));
    // Control bytes are shown escaped, on one line.
    CHECK(error_of("slice=1\n") ==
          "'slice=1\\n': '1\\n' is not a size (a whole number of bytes, optionally with K, KiB, M or MiB)");

    FaultConfig c = faults_of({"close=5"});
    CHECK(echod::add_fault("reset=5", c) ==
          "'reset=5': cannot be combined with 'close=5' (close, reset and stall exclude one another)");
    CHECK(echod::add_fault("slice=0", c) != "");
    CHECK(c.end == FaultEnd::close);
    CHECK(c.slice == 0);
    CHECK(c.specs[static_cast<std::size_t>(Fault::reset)].empty());
}

TEST_CASE("the seed replays: the same connections, the same draws; another seed differs") {
    auto pattern = [](std::uint64_t seed, double share) {
        echod::FaultPlan plan(share, seed);
        std::vector<std::uint64_t> drawn;
        for (int i = 0; i < 64; ++i) {
            drawn.push_back(plan.draw_connection().value_or(0));
        }
        return drawn;
    };
    CHECK(pattern(42, 0.5) == pattern(42, 0.5));
    CHECK(pattern(42, 0.5) != pattern(43, 0.5));
    auto chosen = [](const std::vector<std::uint64_t>& drawn) {
        return std::count_if(drawn.begin(), drawn.end(), [](std::uint64_t s) { return s != 0; });
    };
    CHECK(chosen(pattern(42, 1)) == 64);
    CHECK(chosen(pattern(42, 0.5)) > 16);
    CHECK(chosen(pattern(42, 0.5)) < 48);
    // Each chosen connection has a seed of its own.
    std::vector<std::uint64_t> all = pattern(7, 1);
    CHECK(std::set<std::uint64_t>(all.begin(), all.end()).size() == all.size());
}

TEST_CASE("jitter: within delay +- jitter, never below 0, spread over the range") {
    FaultConfig c = faults_of({"delay=0.01,jitter=0.004"});
    echod::FaultRandom draws(1);
    std::uint64_t low = UINT64_MAX;
    std::uint64_t high = 0;
    for (int i = 0; i < 10000; ++i) {
        std::uint64_t d = echod::draw_delay_us(c, draws);
        low = std::min(low, d);
        high = std::max(high, d);
    }
    CHECK(low >= 6000);
    CHECK(high <= 14000);
    CHECK(low < 6100);
    CHECK(high > 13900);
    FaultConfig wide = faults_of({"delay=0.001,jitter=0.01"});
    for (int i = 0; i < 1000; ++i) {
        CHECK(echod::draw_delay_us(wide, draws) <= 11000);
    }
}

TEST_CASE("slice: writes of at most SIZE, pause apart") {
    FaultConfig c = faults_of({"slice=3,pause=0.005"});
    FaultShaper shaper(c, 1, 0);
    shaper.on_read(10, 0);
    auto d = shaper.next_write(10, 0);
    CHECK(d.bytes == 3);
    CHECK(d.limited == Fault::slice);
    shaper.on_written(3, 0);
    d = shaper.next_write(7, 1 * ms);
    CHECK(d.bytes == 0);
    CHECK(d.wait_until == 5 * ms);
    CHECK_FALSE(d.limited);  // the pause of a cut already counted
    d = shaper.next_write(7, 5 * ms);
    CHECK(d.bytes == 3);
    shaper.on_written(3, 5 * ms);
    d = shaper.next_write(1, 10 * ms);
    CHECK(d.bytes == 1);
    CHECK_FALSE(d.limited);  // not cut
}

TEST_CASE("delay: no byte before its read time plus the delay, in order") {
    FaultConfig c = faults_of({"delay=0.010"});
    FaultShaper shaper(c, 1, 0);
    shaper.on_read(5, 1 * ms);
    shaper.on_read(4, 3 * ms);
    auto d = shaper.next_write(9, 2 * ms);
    CHECK(d.bytes == 0);
    CHECK(d.wait_until == 11 * ms);
    CHECK(d.limited == Fault::delay);
    d = shaper.next_write(9, 11 * ms);
    CHECK(d.bytes == 5);  // only the first read is due
    shaper.on_written(5, 11 * ms);
    d = shaper.next_write(4, 12 * ms);
    CHECK(d.wait_until == 13 * ms);
    CHECK(shaper.next_write(4, 13 * ms).bytes == 4);
}

TEST_CASE("delay queue: bounded; a read past its capacity waits for the later time") {
    DelayQueue queue;
    for (std::uint64_t i = 1; i <= DelayQueue::capacity + 10; ++i) {
        queue.push(i, i * ms);
    }
    CHECK(queue.size() == DelayQueue::capacity);
    // Byte 64 (the last entry's first) now waits for the last push's time.
    CHECK(queue.due_until((DelayQueue::capacity - 1) * ms) == DelayQueue::capacity - 1);
    CHECK(queue.due_until(DelayQueue::capacity * ms) == DelayQueue::capacity - 1);
    CHECK(queue.due_until((DelayQueue::capacity + 10) * ms) == DelayQueue::capacity + 10);
    queue.forget_until(DelayQueue::capacity + 10);
    CHECK(queue.size() == 0);
    CHECK(queue.next_due_after(0) == 0);
}

TEST_CASE("rate: at most SIZE per second, in bursts of at most a twentieth of it") {
    FaultConfig c = faults_of({"rate=2000"});
    FaultShaper shaper(c, 1, 0);
    shaper.on_read(100000, 0);
    std::uint64_t now = 0;
    std::uint64_t sent = 0;
    std::size_t largest = 0;
    while (now <= 2000 * ms) {
        auto d = shaper.next_write(100000, now);
        if (d.bytes != 0) {
            shaper.on_written(d.bytes, now);
            sent += d.bytes;
            largest = std::max(largest, d.bytes);
        } else {
            REQUIRE(d.wait_until > now);
            now = d.wait_until;
        }
    }
    CHECK(largest <= 100);
    // Two seconds at 2000 B/s, plus the first burst.
    CHECK(sent >= 4000);
    CHECK(sent <= 4100 + 100);
}

TEST_CASE("close, reset, stall: writes cut to land on SIZE exactly, then the end is due") {
    FaultConfig c = faults_of({"close=10", "slice=4"});
    FaultShaper shaper(c, 1, 0);
    shaper.on_read(100, 0);
    std::vector<std::size_t> writes;
    while (!shaper.end_due()) {
        auto d = shaper.next_write(100, 0);
        REQUIRE(d.bytes != 0);
        shaper.on_written(d.bytes, 0);
        writes.push_back(d.bytes);
    }
    CHECK(writes == std::vector<std::size_t>{4, 4, 2});
    CHECK(shaper.next_write(90, 0).bytes == 0);
    CHECK(shaper.next_write(90, 0).wait_until == 0);
    CHECK(shaper.end() == FaultEnd::close);
    FaultConfig stall = faults_of({"stall=0"});  // the shaper keeps a reference
    FaultShaper at_once(stall, 1, 0);
    CHECK(at_once.end_due());
}
