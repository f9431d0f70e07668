#include "echod/connection_list.h"

#include <cassert>

namespace echod {

void ConnectionList::set_idle_timeout(std::uint64_t ms, std::uint64_t now_ms) {
    if (idle_timeout_ms_ == 0 && ms != 0) {
        for (Node* node = newest_; node != nullptr; node = node->older_) {
            node->last_active_ms_ = now_ms;
        }
    }
    idle_timeout_ms_ = ms;
}

void ConnectionList::link(Node* node, std::uint64_t now_ms) {
    node->last_active_ms_ = now_ms;
    link_front(node);
    ++size_;
}

void ConnectionList::unlink(Node* node) {
    assert(size_ > 0);
    take_out(node);
    node->newer_ = node->older_ = nullptr;
    --size_;
}

void ConnectionList::move_to_front(Node* node, std::uint64_t now_ms) {
    node->last_active_ms_ = now_ms;
    if (newest_ != node) {
        take_out(node);
        link_front(node);
    }
}

void ConnectionList::link_front(Node* node) {
    node->newer_ = nullptr;
    node->older_ = newest_;
    if (newest_ != nullptr) {
        newest_->newer_ = node;
    } else {
        oldest_ = node;
    }
    newest_ = node;
}

void ConnectionList::take_out(Node* node) {
    if (node->newer_ != nullptr) {
        node->newer_->older_ = node->older_;
    } else {
        newest_ = node->older_;
    }
    if (node->older_ != nullptr) {
        node->older_->newer_ = node->newer_;
    } else {
        oldest_ = node->newer_;
    }
}

}  // namespace echod
