#include "doctest_include.h"

#include "common/parse.h"
#include "echod/ring_pool.h"

#include <array>
#include <span>

using echod::RingBuffer;
using echod::RingPool;

TEST_CASE("rings are lent out cleared and reused") {
    RingPool pool(64, 2);
    auto a = pool.acquire();
    REQUIRE(a != nullptr);
    CHECK(a->capacity() == 64);
    CHECK(pool.in_use() == 1);
    CHECK(pool.pooled() == 0);

    a->commit(10);
    RingBuffer* address = a.get();
    pool.release(std::move(a));
    CHECK(pool.in_use() == 0);
    CHECK(pool.pooled() == 1);

    auto b = pool.acquire();
    CHECK(b.get() == address);  // the spare, not a new allocation
    CHECK(b->empty());          // and cleared
    pool.release(std::move(b));
}

TEST_CASE("peek_free shows the free space of the ring acquire would lend next, without lending it") {
    RingPool pool(64, 2, 2);
    CHECK(pool.peek_free().empty());  // no spare yet: acquire would allocate
    pool.release(pool.acquire());
    std::span<char> next = pool.peek_free();
    REQUIRE(next.size() == 64);  // all of it: the spare is cleared
    CHECK(pool.in_use() == 0);   // still in the pool
    CHECK(pool.pooled() == 1);

    auto a = pool.acquire();
    CHECK(a->writable_spans()[0].data() == next.data());  // what was read into it is where the ring fills
    auto b = pool.acquire();                              // the budget (2) is lent out now
    char* b_data = b->writable_spans()[0].data();
    CHECK(pool.peek_free().empty());
    pool.release(std::move(b));
    CHECK(pool.peek_free().data() == b_data);
    pool.release(std::move(a));
}

TEST_CASE("spares beyond the bound are freed") {
    RingPool pool(16, 2);
    auto a = pool.acquire();
    auto b = pool.acquire();
    auto c = pool.acquire();
    CHECK(pool.in_use() == 3);
    pool.release(std::move(a));
    pool.release(std::move(b));
    pool.release(std::move(c));
    CHECK(pool.in_use() == 0);
    CHECK(pool.pooled() == 2);
}

TEST_CASE("a pool with no spares allocates every time") {
    RingPool pool(16, 0);
    pool.release(pool.acquire());
    CHECK(pool.pooled() == 0);
}

TEST_CASE("spares are bounded to about 8 MiB whatever the ring size") {
    using common::MiB;
    using echod::default_max_pooled;
    CHECK(default_max_pooled(64 * 1024) == 128);
    CHECK(default_max_pooled(16) == 8 * common::MiB / 16);
    CHECK(default_max_pooled(8 * common::MiB) == 1);
    CHECK(default_max_pooled(16 * common::MiB) == 0);
    CHECK(default_max_pooled(256 * common::MiB) == 0);
}

TEST_CASE("the budget: at most max_rings lent, and lent plus spare within it") {
    RingPool pool(16, 8, 3);
    auto a = pool.acquire();
    auto b = pool.acquire();
    auto c = pool.acquire();
    REQUIRE(c != nullptr);
    CHECK(pool.acquire() == nullptr);  // spent
    CHECK(pool.in_use() == 3);
    pool.release(std::move(a));
    CHECK(pool.pooled() == 1);
    auto d = pool.acquire();
    CHECK(d != nullptr);
    pool.release(std::move(b));
    pool.release(std::move(c));
    pool.release(std::move(d));
    CHECK(pool.in_use() == 0);
    CHECK(pool.pooled() == 3);  // never more than could be lent
    CHECK(echod::rings_in_budget(1024, 8 * 1024) == 8);
    CHECK(echod::rings_in_budget(1024, 1000) == 1);  // at least one ring
    CHECK(echod::rings_in_budget(1024, 2047) == 1);
    RingPool one(16, 8, 0);
    CHECK(one.max_rings() == 1);
    CHECK(one.acquire() != nullptr);
}

TEST_CASE("ring waiters: first come first served, removal anywhere, nothing twice") {
    echod::RingWaiters queue;
    std::array<echod::RingWaiters::Node, 4> nodes{};
    for (auto& node : nodes) {
        queue.push(node);
    }
    CHECK(queue.size() == 4);
    queue.remove(nodes[2]);
    queue.remove(nodes[2]);
    CHECK(queue.size() == 3);
    CHECK(queue.pop() == &nodes[0]);
    queue.push(nodes[2]);
    CHECK(queue.pop() == &nodes[1]);
    CHECK(queue.pop() == &nodes[3]);
    queue.remove(nodes[2]);
    CHECK(queue.empty());
    CHECK(queue.pop() == nullptr);
    CHECK_FALSE(nodes[0].queued);
}
