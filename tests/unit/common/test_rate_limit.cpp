// Once a second at most, whatever the clock reads first.
#include "doctest_include.h"

#include "common/rate_limit.h"

TEST_CASE("RateLimit: the first event passes, then one per interval") {
    common::RateLimit limit;
    CHECK(limit.allow(0));  // even at time 0
    CHECK_FALSE(limit.allow(0));
    CHECK_FALSE(limit.allow(999));
    CHECK(limit.allow(1000));
    CHECK_FALSE(limit.allow(1500));
    CHECK(limit.allow(5000));

    common::RateLimit fast(10);
    CHECK(fast.allow(123456));
    CHECK_FALSE(fast.allow(123465));
    CHECK(fast.allow(123466));
}
