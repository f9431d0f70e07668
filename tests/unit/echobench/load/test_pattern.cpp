#include "echobench/load/pattern.h"

#include "doctest_include.h"

#include <cstddef>
#include <random>
#include <vector>

using echobench::Pattern;
using echobench::StreamChecker;

namespace {

std::vector<std::byte> stream_of(const Pattern& p, std::uint64_t connection, std::uint64_t messages) {
    std::vector<std::byte> out(p.message_size() * messages);
    for (std::uint64_t s = 0; s < messages; ++s) {
        p.fill(connection, s, {out.data() + s * p.message_size(), p.message_size()});
    }
    return out;
}

struct Outcome {
    std::uint64_t complete = 0;
    std::uint64_t mismatched = 0;
};

// Feeds data to the checker in chunks of the given sizes (cycled).
Outcome feed(StreamChecker& checker, std::span<const std::byte> data, const std::vector<std::size_t>& chunks) {
    Outcome out;
    std::size_t c = 0;
    while (!data.empty()) {
        std::span<const std::byte> chunk = data.first(std::min(chunks[c++ % chunks.size()], data.size()));
        data = data.subspan(chunk.size());
        while (!chunk.empty()) {
            StreamChecker::Step step = checker.feed(chunk);
            REQUIRE(step.consumed > 0);
            chunk = chunk.subspan(step.consumed);
            if (step.complete) {
                ++out.complete;
                out.mismatched += step.mismatch ? 1 : 0;
            } else {
                CHECK_FALSE(step.mismatch);
            }
        }
    }
    return out;
}

}  // namespace

TEST_CASE("messages differ by connection and sequence, and are reproducible") {
    for (std::size_t size : {1, 7, 8, 9, 64, 1000}) {
        CAPTURE(size);
        Pattern p(size);
        std::vector<std::byte> a(size), b(size), c(size), a2(size);
        p.fill(1, 0, a);
        p.fill(1, 1, b);
        p.fill(2, 0, c);
        p.fill(1, 0, a2);
        CHECK(a == a2);
        if (size >= 8) {
            CHECK(a != b);
            CHECK(a != c);
        }
        CHECK(p.matches(1, 0, 0, a));
        if (size >= 8) {
            CHECK_FALSE(p.matches(1, 1, 0, a));
            CHECK_FALSE(p.matches(2, 0, 0, a));
        }
    }
}

TEST_CASE("matches checks any sub-range") {
    Pattern p(100);
    std::vector<std::byte> m(100);
    p.fill(5, 9, m);
    for (std::size_t off = 0; off <= 100; ++off) {
        for (std::size_t len = 0; off + len <= 100; len += 7) {
            REQUIRE(p.matches(5, 9, off, std::span<const std::byte>(m).subspan(off, len)));
        }
    }
    for (std::size_t i = 0; i < 100; ++i) {
        std::vector<std::byte> bad = m;
        bad[i] ^= std::byte{0x01};
        REQUIRE_FALSE(p.matches(5, 9, 0, bad));
        std::size_t off = i / 2;
        REQUIRE_FALSE(p.matches(5, 9, off, std::span<const std::byte>(bad).subspan(off, 100 - off)));
    }
}

TEST_CASE("a correct stream passes at every split") {
    for (std::size_t size : {1, 3, 8, 64, 1500}) {
        CAPTURE(size);
        Pattern p(size);
        const std::vector<std::byte> data = stream_of(p, 42, 50);
        for (const std::vector<std::size_t>& chunks :
             std::vector<std::vector<std::size_t>>{{1}, {2, 5}, {7, 1, 13}, {size}, {size + 1}, {data.size()}}) {
            StreamChecker checker(p, 42);
            Outcome out = feed(checker, data, chunks);
            CHECK(out.complete == 50);
            CHECK(out.mismatched == 0);
            CHECK(checker.sequence() == 50);
            CHECK(checker.offset() == 0);
        }
    }
}

TEST_CASE("a partial message is not complete") {
    Pattern p(64);
    std::vector<std::byte> data = stream_of(p, 0, 1);
    StreamChecker checker(p, 0);
    StreamChecker::Step step = checker.feed(std::span<const std::byte>(data).first(63));
    CHECK(step.consumed == 63);
    CHECK_FALSE(step.complete);
    CHECK(checker.offset() == 63);
    step = checker.feed(std::span<const std::byte>(data).subspan(63));
    CHECK(step.complete);
    CHECK_FALSE(step.mismatch);
}

TEST_CASE("corrupted, lost, duplicated and reordered bytes are caught") {
    const std::size_t size = 64;
    Pattern p(size);
    const std::vector<std::byte> good = stream_of(p, 3, 20);
    std::mt19937 rng(1);

    SUBCASE("one flipped bit fails exactly its message, at any split") {
        for (int trial = 0; trial < 200; ++trial) {
            std::vector<std::byte> data = good;
            std::size_t at = std::uniform_int_distribution<std::size_t>(0, data.size() - 1)(rng);
            data[at] ^= std::byte{0x80};
            StreamChecker checker(p, 3);
            Outcome out = feed(checker, data, {1 + static_cast<std::size_t>(trial % 37)});
            REQUIRE(out.complete == 20);
            REQUIRE(out.mismatched == 1);
        }
    }
    SUBCASE("a lost byte shifts the stream: later messages fail") {
        std::vector<std::byte> data = good;
        data.erase(data.begin() + 100);
        StreamChecker checker(p, 3);
        Outcome out = feed(checker, data, {17});
        CHECK(out.mismatched >= 18);  // message 1 onwards, all but the last (incomplete)
        CHECK(out.complete == 19);
    }
    SUBCASE("a duplicated message fails") {
        std::vector<std::byte> data(good.begin(), good.begin() + 2 * size);
        data.insert(data.end(), good.begin() + size, good.begin() + 2 * size);  // message 1 again
        StreamChecker checker(p, 3);
        Outcome out = feed(checker, data, {size});
        CHECK(out.complete == 3);
        CHECK(out.mismatched == 1);
    }
    SUBCASE("two messages swapped fail both") {
        std::vector<std::byte> data = good;
        std::swap_ranges(data.begin() + 4 * size, data.begin() + 5 * size, data.begin() + 5 * size);
        StreamChecker checker(p, 3);
        Outcome out = feed(checker, data, {5, 11});
        CHECK(out.mismatched == 2);
    }
    SUBCASE("bytes swapped inside a message fail it") {
        std::vector<std::byte> data = good;
        std::swap(data[10], data[20]);
        StreamChecker checker(p, 3);
        CHECK(feed(checker, data, {64}).mismatched == 1);
    }
    SUBCASE("another connection's stream fails everywhere") {
        StreamChecker checker(p, 4);
        CHECK(feed(checker, good, {64}).mismatched == 20);
    }
    SUBCASE("with verify off nothing is compared, only counted") {
        std::vector<std::byte> data(good.size(), std::byte{0});
        StreamChecker checker(p, 3, false);
        Outcome out = feed(checker, data, {9});
        CHECK(out.complete == 20);
        CHECK(out.mismatched == 0);
    }
}

TEST_CASE("restart: a new connection's stream, checked against its own id") {
    Pattern p(64);
    std::vector<std::byte> first(64);
    std::vector<std::byte> second(64);
    p.fill(7, 0, first);
    p.fill(7 + 50, 0, second);  // the place's next connection, with -c 50
    StreamChecker checker(p, 7);
    StreamChecker::Step step = checker.feed(first);
    REQUIRE(step.complete);
    CHECK_FALSE(step.mismatch);
    checker.restart(57);
    CHECK(checker.sequence() == 0);
    CHECK(checker.offset() == 0);
    // The old connection's message 0, echoed on the new one, is caught.
    step = checker.feed(first);
    REQUIRE(step.complete);
    CHECK(step.mismatch);
    checker.restart(57);
    step = checker.feed(std::span<const std::byte>(second).first(10));
    CHECK_FALSE(step.complete);
    checker.restart(57);  // a partial message is dropped too
    step = checker.feed(second);
    REQUIRE(step.complete);
    CHECK_FALSE(step.mismatch);
    CHECK(checker.sequence() == 1);
}
