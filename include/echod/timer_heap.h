// A min-heap of deadlines whose nodes live inside their owners (a
// connection, a UDP socket): schedule, move and cancel in O(log n), no
// allocation per deadline. Pure: fault_clock.h drives it with one libuv
// timer for all of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace echod {

class TimerHeap {
public:
    struct Node {
        std::uint64_t due = 0;  // when it fires, in the caller's unit
        std::size_t index = not_scheduled;
        bool scheduled() const { return index != not_scheduled; }
    };
    static constexpr std::size_t not_scheduled = std::numeric_limits<std::size_t>::max();

    TimerHeap() = default;
    TimerHeap(const TimerHeap&) = delete;
    TimerHeap& operator=(const TimerHeap&) = delete;

    // Schedules node at due, or moves it there if it is scheduled already.
    void schedule(Node& node, std::uint64_t due);
    // Takes node off the heap; nothing if it is not on it.
    void cancel(Node& node);
    // The earliest node, or nullptr when empty.
    Node* top() const { return heap_.empty() ? nullptr : heap_.front(); }
    // Takes the earliest node off the heap and returns it (nullptr when empty).
    Node* pop();
    std::size_t size() const { return heap_.size(); }

private:
    void place(std::size_t i, Node* node);
    void sift_up(std::size_t i);
    void sift_down(std::size_t i);

    std::vector<Node*> heap_;
};

}  // namespace echod
