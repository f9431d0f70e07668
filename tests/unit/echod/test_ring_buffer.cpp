#include "doctest_include.h"

#include "echod/ring_buffer.h"

#include <cstring>
#include <deque>
#include <random>
#include <string>

using echod::RingBuffer;

namespace {

// Writes text into the ring through its writable spans, as a read would.
std::size_t put(RingBuffer& ring, std::string_view text) {
    std::size_t done = 0;
    for (std::span<char> span : ring.writable_spans()) {
        std::size_t n = std::min(span.size(), text.size() - done);
        if (n == 0) {
            break;  // an empty span may have no storage: memcpy(nullptr, ...) is UB
        }
        std::memcpy(span.data(), text.data() + done, n);
        done += n;
    }
    ring.commit(done);
    return done;
}

// Takes up to n bytes out through the readable spans, as a write would.
std::string take(RingBuffer& ring, std::size_t n) {
    std::string out;
    for (std::span<const char> span : ring.readable_spans()) {
        std::size_t k = std::min(span.size(), n - out.size());
        out.append(span.data(), k);
    }
    ring.consume(out.size());
    return out;
}

std::size_t total(const auto& spans) {
    return spans[0].size() + spans[1].size();
}

}  // namespace

TEST_CASE("a new ring is empty with one writable span of its whole capacity") {
    RingBuffer ring(8);
    CHECK(ring.capacity() == 8);
    CHECK(ring.empty());
    CHECK_FALSE(ring.full());
    CHECK(ring.readable() == 0);
    CHECK(ring.writable() == 8);
    CHECK(ring.writable_spans()[0].size() == 8);
    CHECK(ring.writable_spans()[1].empty());
    CHECK(total(ring.readable_spans()) == 0);
}

TEST_CASE("filling to capacity leaves nothing writable") {
    RingBuffer ring(8);
    CHECK(put(ring, "abcdefgh") == 8);
    CHECK(ring.full());
    CHECK(ring.writable() == 0);
    CHECK(total(ring.writable_spans()) == 0);
    CHECK(ring.readable_spans()[0].size() == 8);
    CHECK(ring.readable_spans()[1].empty());
    CHECK(take(ring, 8) == "abcdefgh");
    CHECK(ring.empty());
}

TEST_CASE("spans split at the wrap, in order") {
    RingBuffer ring(8);
    REQUIRE(put(ring, "abcdef") == 6);
    REQUIRE(take(ring, 4) == "abcd");  // head at 4, "ef" stored at 4..5

    SUBCASE("free space wraps: end of buffer first, then the start") {
        auto spans = ring.writable_spans();
        CHECK(spans[0].size() == 2);  // 6..7
        CHECK(spans[1].size() == 4);  // 0..3
        CHECK(total(spans) == ring.writable());
    }
    SUBCASE("stored bytes wrap: oldest first") {
        REQUIRE(put(ring, "ghijk") == 5);  // g,h at 6..7; i,j,k at 0..2
        auto spans = ring.readable_spans();
        CHECK(std::string(spans[0].data(), spans[0].size()) == "efgh");
        CHECK(std::string(spans[1].data(), spans[1].size()) == "ijk");
        CHECK(ring.writable() == 1);
        CHECK(ring.writable_spans()[0].size() == 1);
        CHECK(ring.writable_spans()[1].empty());
        CHECK(take(ring, 100) == "efghijk");
    }
    SUBCASE("fills exactly to full across the wrap") {
        REQUIRE(put(ring, "ghijklmn") == 6);
        CHECK(ring.full());
        CHECK(total(ring.writable_spans()) == 0);
        CHECK(take(ring, 8) == "efghijkl");
    }
}

TEST_CASE("partial commit and consume move only by the given count") {
    RingBuffer ring(16);
    auto spans = ring.writable_spans();
    std::memcpy(spans[0].data(), "xyz", 3);
    ring.commit(2);  // the socket read only 2 bytes of what it was offered
    CHECK(ring.readable() == 2);
    CHECK(take(ring, 1) == "x");
    CHECK(take(ring, 1) == "y");
    CHECK(ring.empty());
}

TEST_CASE("emptying the ring rewinds it so the next read gets one whole span") {
    RingBuffer ring(8);
    put(ring, "abcde");
    take(ring, 5);
    CHECK(ring.writable_spans()[0].size() == 8);
    CHECK(ring.writable_spans()[1].empty());
}

TEST_CASE("capacity edges") {
    SUBCASE("capacity 1") {
        RingBuffer ring(1);
        CHECK(put(ring, "ab") == 1);
        CHECK(ring.full());
        CHECK(take(ring, 5) == "a");
        CHECK(ring.empty());
    }
    SUBCASE("head at the last byte") {
        RingBuffer ring(4);
        put(ring, "abcd");
        take(ring, 3);  // head at 3, "d" stored
        auto w = ring.writable_spans();
        CHECK(w[0].size() == 3);  // 0..2
        CHECK(w[1].empty());
        put(ring, "efg");
        CHECK(ring.full());
        CHECK(take(ring, 4) == "defg");
    }
    SUBCASE("stored bytes end exactly at the end of the buffer") {
        RingBuffer ring(4);
        put(ring, "abcd");
        take(ring, 2);  // "cd" at 2..3, tail wraps to 0
        auto r = ring.readable_spans();
        CHECK(r[0].size() == 2);
        CHECK(r[1].empty());
        auto w = ring.writable_spans();
        CHECK(w[0].data() != nullptr);
        CHECK(w[0].size() == 2);
        CHECK(w[1].empty());
    }
    SUBCASE("clear forgets everything") {
        RingBuffer ring(4);
        put(ring, "abc");
        take(ring, 1);
        ring.clear();
        CHECK(ring.empty());
        CHECK(ring.writable_spans()[0].size() == 4);
    }
}

TEST_CASE("random commits and consumes match a simple queue") {
    for (std::size_t capacity : {1U, 2U, 3U, 7U, 16U, 61U}) {
        CAPTURE(capacity);
        RingBuffer ring(capacity);
        std::deque<char> model;
        std::mt19937 rng(static_cast<unsigned>(capacity));
        char next = 0;
        for (int step = 0; step < 5000; ++step) {
            if (rng() % 2 == 0) {
                std::size_t want = rng() % (capacity + 2);
                std::string data;
                for (std::size_t i = 0; i < want; ++i) {
                    data.push_back(static_cast<char>(next + static_cast<char>(i)));
                }
                std::size_t n = put(ring, data);
                REQUIRE(n == std::min(want, capacity - model.size()));
                model.insert(model.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
                next = static_cast<char>(next + static_cast<char>(n));
            } else {
                std::string got = take(ring, rng() % (capacity + 2));
                for (char c : got) {
                    REQUIRE(!model.empty());
                    REQUIRE(c == model.front());
                    model.pop_front();
                }
            }
            REQUIRE(ring.readable() == model.size());
            REQUIRE(ring.writable() == capacity - model.size());
            REQUIRE(total(ring.readable_spans()) == ring.readable());
            REQUIRE(total(ring.writable_spans()) == ring.writable());
        }
    }
}
