#include "doctest_include.h"

#include "common/parse.h"
#include "echod/ring_pool.h"

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
