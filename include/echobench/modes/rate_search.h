// --find-rate's search, apart from any network: the rate of the next step,
// given whether the steps so far passed. Pure and deterministic: the same
// outcomes always give the same steps.
//
//   doubling:   start, 2 x start, 4 x start, ... until a step fails;
//   bisection:  the midpoint of the highest passing and the lowest failing
//               rate, until the failing one is within `precision` of the
//               passing one (failing <= passing x 1.05 by default).
//
// It also stops when the first step fails (nothing passed: max_rate() is
// empty; the search never goes below its start), after max_steps steps, and
// when a step at the ceiling passes (doubling stops there: the last doubling
// step runs at the ceiling itself). In a real search doubling ends well
// before the ceiling: a step that achieves less than 99% of its rate fails,
// so the search turns back where the client or the server stops following.
#pragma once

#include <cstdint>
#include <optional>

namespace echobench {

class RateSearch {
public:
    struct Limits {
        double precision = 0.05;       // converged when lowest failing <= highest passing x (1 + precision)
        std::uint32_t max_steps = 30;  // no step after this many
        double ceiling = 1e9;          // msgs/s: doubling goes no higher
    };

    // Why the search is over.
    enum class Stop {
        running,       // not over: next_rate() is the next step
        converged,     // passing and failing rates within precision
        first_failed,  // the first step failed: no rate passed
        ceiling,       // a step at the ceiling passed
        step_cap,      // max_steps steps taken
    };

    // start > 0 (above the ceiling: the ceiling).
    RateSearch(double start, Limits limits);

    bool done() const { return stop_ != Stop::running; }
    Stop stop() const { return stop_; }
    // The rate the next step runs at; only while !done().
    double next_rate() const { return next_; }
    // The outcome of the step run at next_rate().
    void record(bool passed);

    std::optional<double> max_rate() const { return passing_; }        // the highest passing rate
    std::optional<double> lowest_failing() const { return failing_; }  // the lowest failing rate
    std::uint32_t steps() const { return steps_; }

private:
    void update_stop();

    Limits limits_;
    double next_;
    std::uint32_t steps_ = 0;
    std::optional<double> passing_;
    std::optional<double> failing_;
    Stop stop_ = Stop::running;
};

// "converged", "first_failed", ...: the name --json gives a Stop.
const char* stop_name(RateSearch::Stop stop);

}  // namespace echobench
