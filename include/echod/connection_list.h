// The live connections, most recently active first, and the idle sweep.
//
// Intrusive: a connection is a Node (it derives from one), so linking,
// moving to the front and unlinking are O(1) and never allocate. Pure: it
// knows nothing of libuv or sockets; the caller passes the time.
//
//   newest ─next─> ... ─next─> oldest
//          <─prev─     <─prev─
//
// With an idle timeout, touch() moves a node to the front, so the sweep
// looks only at the oldest end: O(1) per byte moved, O(expired) per sweep.
// Without one (0), the order is that of linking and touch() does nothing.
#pragma once

#include <cstddef>
#include <cstdint>

namespace echod {

class ConnectionList {
public:
    class Node {
    public:
        Node() = default;
        Node(const Node&) = delete;
        Node& operator=(const Node&) = delete;

        std::uint64_t last_active_ms() const { return last_active_ms_; }

    private:
        friend class ConnectionList;
        Node* newer_ = nullptr;             // towards the front; nullptr at the front
        Node* older_ = nullptr;             // towards the back; nullptr at the back
        std::uint64_t last_active_ms_ = 0;  // when it was linked or last touched
    };

    explicit ConnectionList(std::uint64_t idle_timeout_ms = 0) : idle_timeout_ms_(idle_timeout_ms) {}
    ConnectionList(const ConnectionList&) = delete;
    ConnectionList& operator=(const ConnectionList&) = delete;

    // 0: no idle timeout, no activity order. Turned on while nodes are
    // linked (a reload), it counts their idleness from now_ms: without a
    // timeout nothing kept their activity.
    void set_idle_timeout(std::uint64_t ms, std::uint64_t now_ms = 0);
    std::uint64_t idle_timeout_ms() const { return idle_timeout_ms_; }
    // Whether touch() needs the time: callers on the hot path ask first,
    // so that without a timeout they do not even read the clock.
    bool tracks_activity() const { return idle_timeout_ms_ != 0; }

    // At the front, active now.
    void link(Node* node, std::uint64_t now_ms);
    // Takes node out; it must be linked.
    void unlink(Node* node);
    // node moved a byte at now_ms: it is the most recently active.
    void touch(Node* node, std::uint64_t now_ms) {
        if (tracks_activity()) {
            move_to_front(node, now_ms);
        }
    }

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    Node* newest() const { return newest_; }
    Node* oldest() const { return oldest_; }

    // f(node) for every node, newest first. f may unlink the node it is
    // given, not another one.
    template <typename F>
    void for_each(F&& f) {
        for (Node* node = newest_; node != nullptr;) {
            Node* older = node->older_;
            f(*node);
            node = older;
        }
    }

    // The nodes idle for idle_timeout_ms or more at now_ms, oldest first:
    // on_idle(node, idle_ms) for each. It returns true when the node was
    // active after all (bytes moved that no callback reported): it is then
    // touched and the sweep goes on. It may unlink the node it is given.
    template <typename OnIdle>
    void sweep(std::uint64_t now_ms, OnIdle&& on_idle) {
        if (!tracks_activity()) {
            return;
        }
        for (Node* node = oldest_; node != nullptr;) {
            Node* newer = node->newer_;
            std::uint64_t idle_ms = now_ms - node->last_active_ms_;
            if (idle_ms < idle_timeout_ms_) {
                break;  // every newer one is within its time too
            }
            if (on_idle(*node, idle_ms)) {
                move_to_front(node, now_ms);
            }
            node = newer;
        }
    }

private:
    void move_to_front(Node* node, std::uint64_t now_ms);
    void link_front(Node* node);
    void take_out(Node* node);

    std::uint64_t idle_timeout_ms_;
    Node* newest_ = nullptr;  // the front: most recently active
    Node* oldest_ = nullptr;  // the back: the sweep starts here
    std::size_t size_ = 0;
};

}  // namespace echod
