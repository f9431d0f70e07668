#include "echod/timer_heap.h"

namespace echod {

void TimerHeap::place(std::size_t i, Node* node) {
    heap_[i] = node;
    node->index = i;
}

void TimerHeap::sift_up(std::size_t i) {
    Node* node = heap_[i];
    while (i > 0) {
        std::size_t parent = (i - 1) / 2;
        if (heap_[parent]->due <= node->due) {
            break;
        }
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, node);
}

void TimerHeap::sift_down(std::size_t i) {
    Node* node = heap_[i];
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= heap_.size()) {
            break;
        }
        if (child + 1 < heap_.size() && heap_[child + 1]->due < heap_[child]->due) {
            ++child;
        }
        if (node->due <= heap_[child]->due) {
            break;
        }
        place(i, heap_[child]);
        i = child;
    }
    place(i, node);
}

void TimerHeap::schedule(Node& node, std::uint64_t due) {
    if (!node.scheduled()) {
        node.due = due;
        heap_.push_back(&node);
        node.index = heap_.size() - 1;
        sift_up(node.index);
        return;
    }
    bool earlier = due < node.due;
    node.due = due;
    if (earlier) {
        sift_up(node.index);
    } else {
        sift_down(node.index);
    }
}

void TimerHeap::cancel(Node& node) {
    if (!node.scheduled()) {
        return;
    }
    std::size_t i = node.index;
    node.index = not_scheduled;
    Node* last = heap_.back();
    heap_.pop_back();
    if (last == &node) {
        return;
    }
    place(i, last);
    sift_up(i);
    sift_down(last->index);
}

TimerHeap::Node* TimerHeap::pop() {
    Node* first = top();
    if (first != nullptr) {
        cancel(*first);
    }
    return first;
}

}  // namespace echod
