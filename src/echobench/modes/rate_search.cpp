#include "echobench/modes/rate_search.h"

#include <algorithm>

namespace echobench {

RateSearch::RateSearch(double start, Limits limits) : limits_(limits), next_(std::min(start, limits.ceiling)) {
    if (limits_.max_steps == 0) {
        stop_ = Stop::step_cap;
    }
}

void RateSearch::record(bool passed) {
    if (done()) {
        return;
    }
    ++steps_;
    if (passed) {
        passing_ = next_;
    } else {
        failing_ = next_;
    }
    update_stop();
    if (done()) {
        return;
    }
    if (!failing_) {
        next_ = std::min(next_ * 2, limits_.ceiling);  // doubling
    } else {
        next_ = (*passing_ + *failing_) / 2;  // bisection
    }
}

void RateSearch::update_stop() {
    if (!passing_) {
        stop_ = Stop::first_failed;  // only a first step can fail with nothing passed
    } else if (failing_ && *failing_ <= *passing_ * (1 + limits_.precision)) {
        stop_ = Stop::converged;
    } else if (!failing_ && *passing_ >= limits_.ceiling) {
        stop_ = Stop::ceiling;
    } else if (steps_ >= limits_.max_steps) {
        stop_ = Stop::step_cap;
    }
}

const char* stop_name(RateSearch::Stop stop) {
    switch (stop) {
        case RateSearch::Stop::converged:
            return "converged";
        case RateSearch::Stop::first_failed:
            return "first_failed";
        case RateSearch::Stop::ceiling:
            return "ceiling";
        case RateSearch::Stop::step_cap:
            return "step_cap";
        case RateSearch::Stop::running:
            break;
    }
    return "running";
}

}  // namespace echobench
