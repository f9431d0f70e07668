#include "echod/ring_pool.h"

#include "common/parse.h"

#include <algorithm>
#include <cassert>

namespace echod {

RingPool::RingPool(std::size_t ring_capacity, std::size_t max_pooled, std::size_t max_rings)
    : ring_capacity_(ring_capacity),
      max_pooled_(std::min(max_pooled, max_rings)),
      max_rings_(std::max<std::size_t>(1, max_rings)) {
    spare_.reserve(max_pooled_);
}

std::unique_ptr<RingBuffer> RingPool::make_ring() const {
    return std::make_unique<RingBuffer>(ring_capacity_);
}

std::size_t default_max_pooled(std::size_t ring_capacity) {
    // No spares at all for rings over the budget: memory held by an idle
    // echod stays small whatever --buffer-size is.
    constexpr std::size_t budget = 8 * common::MiB;
    return budget / ring_capacity;
}

std::size_t rings_in_budget(std::size_t ring_capacity, std::uint64_t budget) {
    return std::max<std::uint64_t>(1, budget / ring_capacity);
}

void RingWaiters::push(Node& node) {
    assert(!node.queued);
    node.queued = true;
    node.prev = last_;
    node.next = nullptr;
    (last_ != nullptr ? last_->next : first_) = &node;
    last_ = &node;
    ++size_;
}

RingWaiters::Node* RingWaiters::pop() {
    Node* node = first_;
    if (node != nullptr) {
        remove(*node);
    }
    return node;
}

void RingWaiters::remove(Node& node) {
    if (!node.queued) {
        return;
    }
    (node.prev != nullptr ? node.prev->next : first_) = node.next;
    (node.next != nullptr ? node.next->prev : last_) = node.prev;
    node.prev = node.next = nullptr;
    node.queued = false;
    --size_;
}

}  // namespace echod
