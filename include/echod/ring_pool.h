// Rings for active connections, lent out and taken back, within one budget
// (--max-buffer-memory).
//
// An idle connection holds no ring: it borrows one when bytes arrive and
// gives it back once everything is echoed. Returned rings are kept for the
// next borrower (no allocation in the steady state), up to a bound so a burst
// does not pin its peak memory forever. The rings lent and kept together
// never exceed max_rings: once that many are lent, acquire() says no, and
// the borrower waits in a RingWaiters queue for the next one returned.
#pragma once

#include "echod/ring_buffer.h"

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace echod {

class RingPool {
public:
    // Rings of ring_capacity bytes; keeps at most max_pooled spare rings;
    // lends at most max_rings at once (at least one).
    RingPool(std::size_t ring_capacity, std::size_t max_pooled, std::size_t max_rings = unlimited);

    // A cleared ring: a spare one if there is one, else a new one; nullptr
    // when max_rings are lent out already.
    // Inline, as release(): a connection borrows and returns one per echo.
    std::unique_ptr<RingBuffer> acquire() {
        if (in_use_ == max_rings_) {
            return nullptr;
        }
        ++in_use_;
        if (spare_.empty()) {
            return make_ring();
        }
        std::unique_ptr<RingBuffer> ring = std::move(spare_.back());
        spare_.pop_back();
        return ring;
    }

    // The free space (all of it: a spare ring is cleared) of the ring
    // acquire() would lend next, still in the pool, or an empty span when
    // acquire() would have to allocate or say no. The caller may read into
    // it and, before anything else uses the pool, acquire the ring (to keep
    // what it read: the ring's writable_spans()[0] is this span) or leave it
    // (it stays cleared: nothing was committed).
    std::span<char> peek_free() const {
        return in_use_ < max_rings_ && !spare_.empty() ? spare_.back()->whole() : std::span<char>{};
    }

    // Takes a ring back; it is kept as a spare or freed.
    void release(std::unique_ptr<RingBuffer>&& ring) {
        assert(ring != nullptr && in_use_ > 0);
        --in_use_;
        // Lent and kept together stay within max_rings: a ring is kept only
        // if it could have been lent anyway.
        if (spare_.size() < max_pooled_ && in_use_ + spare_.size() < max_rings_) {
            ring->clear();
            spare_.push_back(std::move(ring));
        } else {
            ring.reset();
        }
    }

    std::size_t ring_capacity() const { return ring_capacity_; }
    std::size_t in_use() const { return in_use_; }
    std::size_t pooled() const { return spare_.size(); }
    std::size_t max_rings() const { return max_rings_; }

    static constexpr std::size_t unlimited = static_cast<std::size_t>(-1);

private:
    std::unique_ptr<RingBuffer> make_ring() const;  // a new one, when no spare is left

    std::size_t ring_capacity_;                       // bytes per ring
    std::size_t max_pooled_;                          // bound on spare_.size()
    std::size_t max_rings_;                           // bound on in_use_ + spare_.size()
    std::size_t in_use_ = 0;                          // rings lent out now
    std::vector<std::unique_ptr<RingBuffer>> spare_;  // cleared, ready to lend
};

// Spare rings worth keeping for a given ring size: as many as fit in 8 MiB
// (128 of 64 KiB; none of rings over 8 MiB).
std::size_t default_max_pooled(std::size_t ring_capacity);

// Rings of ring_capacity bytes that fit in budget bytes: at least one.
std::size_t rings_in_budget(std::size_t ring_capacity, std::uint64_t budget);

// Connections waiting for a ring, first come first served. Intrusive: the
// node lives in the waiter, so queuing allocates nothing.
class RingWaiters {
public:
    struct Node {
        Node* prev = nullptr;
        Node* next = nullptr;
        bool queued = false;
    };

    void push(Node& node);
    Node* pop();              // the longest waiting, or nullptr
    void remove(Node& node);  // nothing if not queued
    bool empty() const { return first_ == nullptr; }
    std::size_t size() const { return size_; }

private:
    Node* first_ = nullptr;
    Node* last_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace echod
