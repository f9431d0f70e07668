// --find-rate's search: doubling, bisection to 5%, the first step failing,
// the ceiling and the step cap, and the same steps for the same outcomes.
#include "echobench/modes/rate_search.h"

#include "doctest_include.h"

#include <functional>
#include <string>
#include <vector>

using echobench::RateSearch;
using Stop = RateSearch::Stop;

namespace {

// Runs a search against a server whose steps pass up to knee (inclusive);
// returns the rates of the steps in order.
std::vector<double> search_with(RateSearch& search, const std::function<bool(double)>& passes) {
    std::vector<double> rates;
    while (!search.done()) {
        REQUIRE(rates.size() < 1000);  // a search that never ends fails here, not by hanging
        rates.push_back(search.next_rate());
        search.record(passes(rates.back()));
    }
    return rates;
}

std::vector<double> search_knee(double start, double knee, RateSearch::Limits limits = {}) {
    RateSearch search(start, limits);
    return search_with(search, [knee](double rate) { return rate <= knee; });
}

}  // namespace

TEST_CASE("doubling until a step fails, then bisection until within 5%") {
    RateSearch search(1000, {});
    CHECK_FALSE(search.done());
    CHECK(search.next_rate() == 1000);
    const std::vector<double> rates = search_with(search, [](double rate) { return rate <= 5000; });
    // 1000, 2000, 4000 pass; 8000 fails; then the midpoints of 4000..8000.
    CHECK(rates == std::vector<double>{1000, 2000, 4000, 8000, 6000, 5000, 5500, 5250});
    CHECK(search.stop() == Stop::converged);
    REQUIRE(search.max_rate());
    CHECK(*search.max_rate() == 5000);
    REQUIRE(search.lowest_failing());
    CHECK(*search.lowest_failing() == 5250);
    CHECK(*search.lowest_failing() <= *search.max_rate() * 1.05);
    CHECK(search.steps() == rates.size());
}

TEST_CASE("the highest passing and the lowest failing rate end within 5%, whatever the knee") {
    for (double knee : {1000.0, 1999.0, 2000.0, 3333.0, 12345.0, 777777.0}) {
        CAPTURE(knee);
        RateSearch search(1000, {});
        search_with(search, [knee](double rate) { return rate <= knee; });
        CHECK(search.stop() == Stop::converged);
        REQUIRE(search.max_rate());
        REQUIRE(search.lowest_failing());
        CHECK(*search.max_rate() <= knee);
        CHECK(*search.lowest_failing() > knee);
        CHECK(*search.lowest_failing() <= *search.max_rate() * 1.05);
    }
}

TEST_CASE("the first step failing ends the search with no rate") {
    RateSearch search(1000, {});
    search.record(false);
    CHECK(search.done());
    CHECK(search.stop() == Stop::first_failed);
    CHECK_FALSE(search.max_rate());
    CHECK(search.steps() == 1);
    CHECK(std::string(echobench::stop_name(search.stop())) == "first_failed");
}

TEST_CASE("a later step failing never means no rate") {
    // Doubling passed at 1000, 2000; everything after fails: the answer is 2000.
    RateSearch search(1000, {});
    int step = 0;
    search_with(search, [&step](double) { return ++step <= 2; });
    CHECK(search.stop() == Stop::converged);
    REQUIRE(search.max_rate());
    CHECK(*search.max_rate() == 2000);
}

TEST_CASE("doubling stops at the ceiling") {
    SUBCASE("every step passes: the last runs at the ceiling itself") {
        const std::vector<double> rates = search_knee(1000, 1e12, {.ceiling = 5000});
        CHECK(rates == std::vector<double>{1000, 2000, 4000, 5000});
        RateSearch search(1000, {.ceiling = 5000});
        search_with(search, [](double) { return true; });
        CHECK(search.stop() == Stop::ceiling);
        CHECK(*search.max_rate() == 5000);
    }
    SUBCASE("a start above the ceiling starts at the ceiling") {
        RateSearch search(1e6, {.ceiling = 5000});
        CHECK(search.next_rate() == 5000);
    }
    SUBCASE("the default ceiling is 1e9 msgs/s: about 20 doublings from 1000") {
        RateSearch search(1000, {});
        const std::vector<double> rates = search_with(search, [](double) { return true; });
        CHECK(search.stop() == Stop::ceiling);
        CHECK(rates.back() == 1e9);
        CHECK(rates.size() == 21);
    }
}

TEST_CASE("the step cap bounds the search") {
    RateSearch search(1000, {.precision = 1e-12, .max_steps = 12});
    const std::vector<double> rates = search_with(search, [](double rate) { return rate <= 5000; });
    CHECK(rates.size() == 12);
    CHECK(search.stop() == Stop::step_cap);
    REQUIRE(search.max_rate());
    CHECK(*search.max_rate() <= 5000);
    CHECK(*search.max_rate() > 4900);
    SUBCASE("no steps at all") {
        RateSearch none(1000, {.max_steps = 0});
        CHECK(none.done());
        CHECK(none.stop() == Stop::step_cap);
    }
}

TEST_CASE("record after the end changes nothing") {
    RateSearch search(1000, {});
    search.record(false);
    search.record(true);
    CHECK(search.steps() == 1);
    CHECK_FALSE(search.max_rate());
}

TEST_CASE("the same outcomes give the same steps") {
    // Outcomes that are not monotone in the rate (a noisy server): the
    // search follows them, and does so the same way every time.
    const std::vector<bool> outcomes = {true, true, true, false, false, true, false, true, true, false, true};
    auto run = [&outcomes] {
        RateSearch search(250, {});
        std::size_t i = 0;
        return search_with(search, [&](double) { return outcomes[i++ % outcomes.size()]; });
    };
    const std::vector<double> first = run();
    CHECK(first == run());
    CHECK(first.front() == 250);
    CHECK(first.size() > 4);
}
