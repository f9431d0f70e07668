#include "echod/ring_pool.h"

#include "common/parse.h"

#include <algorithm>
#include <cassert>

namespace echod {

RingPool::RingPool(std::size_t ring_capacity, std::size_t max_pooled)
    : ring_capacity_(ring_capacity), max_pooled_(max_pooled) {
    spare_.reserve(max_pooled_);
}

std::unique_ptr<RingBuffer> RingPool::acquire() {
    ++in_use_;
    if (spare_.empty()) {
        return std::make_unique<RingBuffer>(ring_capacity_);
    }
    std::unique_ptr<RingBuffer> ring = std::move(spare_.back());
    spare_.pop_back();
    return ring;
}

void RingPool::release(std::unique_ptr<RingBuffer> ring) {
    assert(ring != nullptr && in_use_ > 0);
    --in_use_;
    if (spare_.size() < max_pooled_) {
        ring->clear();
        spare_.push_back(std::move(ring));
    }
}

std::size_t default_max_pooled(std::size_t ring_capacity) {
    // No spares at all for rings over the budget: memory held by an idle
    // echod stays small whatever --buffer-size is.
    constexpr std::size_t budget = 8 * common::MiB;
    return budget / ring_capacity;
}

}  // namespace echod
