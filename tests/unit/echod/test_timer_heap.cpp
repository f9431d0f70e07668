#include "doctest_include.h"

#include "echod/timer_heap.h"

#include <algorithm>
#include <random>
#include <vector>

using echod::TimerHeap;

TEST_CASE("timer heap: pops in deadline order") {
    TimerHeap heap;
    std::vector<TimerHeap::Node> nodes(5);
    std::vector<std::uint64_t> due = {50, 10, 40, 20, 30};
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        heap.schedule(nodes[i], due[i]);
    }
    std::vector<std::uint64_t> order;
    while (TimerHeap::Node* node = heap.pop()) {
        CHECK_FALSE(node->scheduled());
        order.push_back(node->due);
    }
    CHECK(order == std::vector<std::uint64_t>{10, 20, 30, 40, 50});
    CHECK(heap.top() == nullptr);
}

TEST_CASE("timer heap: moving and cancelling keep the order, and cancel twice is nothing") {
    TimerHeap heap;
    TimerHeap::Node a;
    TimerHeap::Node b;
    TimerHeap::Node c;
    heap.schedule(a, 10);
    heap.schedule(b, 20);
    heap.schedule(c, 30);
    heap.schedule(c, 5);  // earlier
    CHECK(heap.top() == &c);
    heap.schedule(c, 40);  // later
    CHECK(heap.top() == &a);
    heap.cancel(a);
    heap.cancel(a);
    CHECK(heap.size() == 2);
    CHECK(heap.pop() == &b);
    CHECK(heap.pop() == &c);
    CHECK(heap.pop() == nullptr);
}

TEST_CASE("timer heap: random schedules, moves and cancels against a sorted list") {
    std::mt19937_64 random(12345);
    TimerHeap heap;
    std::vector<TimerHeap::Node> nodes(200);
    for (int step = 0; step < 20000; ++step) {
        TimerHeap::Node& node = nodes[random() % nodes.size()];
        if (random() % 3 == 0) {
            heap.cancel(node);
        } else {
            heap.schedule(node, random() % 1000);
        }
        if (step % 1000 == 0) {
            std::uint64_t smallest = UINT64_MAX;
            std::size_t scheduled = 0;
            for (const auto& n : nodes) {
                if (n.scheduled()) {
                    smallest = std::min(smallest, n.due);
                    ++scheduled;
                }
            }
            REQUIRE(heap.size() == scheduled);
            if (scheduled != 0) {
                CHECK(heap.top()->due == smallest);
            }
        }
    }
    std::uint64_t last = 0;
    while (TimerHeap::Node* node = heap.pop()) {
        CHECK(node->due >= last);
        last = node->due;
    }
}
