// At most one event per interval, for log lines a peer can trigger at will
// (out of descriptors, over the connection limit, bad headers): the first
// event passes, then at most one per interval. The caller supplies the
// clock (milliseconds), so this is pure and testable.
#pragma once

#include <cstdint>

namespace common {

class RateLimit {
public:
    explicit RateLimit(std::uint64_t interval_ms = 1000) : interval_ms_(interval_ms) {}

    // True if an event at now_ms may be logged; then the next one waits a
    // whole interval.
    bool allow(std::uint64_t now_ms) {
        if (fired_ && now_ms - last_ms_ < interval_ms_) {
            return false;
        }
        fired_ = true;
        last_ms_ = now_ms;
        return true;
    }

private:
    std::uint64_t interval_ms_;
    std::uint64_t last_ms_ = 0;
    bool fired_ = false;
};

}  // namespace common
