// Rings for active connections, lent out and taken back.
//
// An idle connection holds no ring: it borrows one when bytes arrive and
// gives it back once everything is echoed. Returned rings are kept for the
// next borrower (no allocation in the steady state), up to a bound so a burst
// does not pin its peak memory forever.
#pragma once

#include "echod/ring_buffer.h"

#include <cstddef>
#include <memory>
#include <vector>

namespace echod {

class RingPool {
public:
    // Rings of ring_capacity bytes; keeps at most max_pooled spare rings.
    RingPool(std::size_t ring_capacity, std::size_t max_pooled);

    // A cleared ring: a spare one if there is one, else a new one.
    std::unique_ptr<RingBuffer> acquire();

    // Takes a ring back; it is kept as a spare or freed.
    void release(std::unique_ptr<RingBuffer> ring);

    std::size_t ring_capacity() const { return ring_capacity_; }
    std::size_t in_use() const { return in_use_; }
    std::size_t pooled() const { return spare_.size(); }

private:
    std::size_t ring_capacity_;                       // bytes per ring
    std::size_t max_pooled_;                          // bound on spare_.size()
    std::size_t in_use_ = 0;                          // rings lent out now
    std::vector<std::unique_ptr<RingBuffer>> spare_;  // cleared, ready to lend
};

// Spare rings worth keeping for a given ring size: as many as fit in 8 MiB
// (128 of 64 KiB; none of rings over 8 MiB).
std::size_t default_max_pooled(std::size_t ring_capacity);

}  // namespace echod
