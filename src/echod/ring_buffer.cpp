#include "echod/ring_buffer.h"

#include <algorithm>

#include <cassert>

namespace echod {

// new char[] without "()" leaves the bytes uninitialised, so the kernel maps
// pages only as they are first written: a big ring that is used lightly is cheap.
RingBuffer::RingBuffer(std::size_t capacity) : data_(new char[capacity]), capacity_(capacity) {
    assert(capacity >= 1);
}

std::array<std::span<char>, 2> RingBuffer::writable_spans() {
    std::size_t tail = wrap(head_ + size_);
    if (tail >= head_ && size_ != capacity_) {
        // Free space runs from tail to the end, then from 0 to head_.
        return {std::span<char>(data_.get() + tail, capacity_ - tail), std::span<char>(data_.get(), head_)};
    }
    // Free space is the gap between tail and head_ (empty when full).
    return {std::span<char>(data_.get() + tail, writable()), std::span<char>()};
}

std::array<std::span<const char>, 2> RingBuffer::readable_spans() const {
    std::size_t first = capacity_ - head_;
    if (size_ <= first) {
        return {std::span<const char>(data_.get() + head_, size_), std::span<const char>()};
    }
    return {std::span<const char>(data_.get() + head_, first), std::span<const char>(data_.get(), size_ - first)};
}

std::array<std::span<const char>, 2> RingBuffer::readable_spans(std::size_t max) const {
    auto spans = readable_spans();
    if (spans[0].size() >= max) {
        return {spans[0].first(max), std::span<const char>()};
    }
    return {spans[0], spans[1].first(std::min(max - spans[0].size(), spans[1].size()))};
}

void RingBuffer::commit(std::size_t n) {
    assert(n <= writable());
    size_ += n;
}

void RingBuffer::consume(std::size_t n) {
    assert(n <= readable());
    head_ = wrap(head_ + n);
    size_ -= n;
    // An empty ring restarts at 0 so the next read gets one contiguous span
    // of the whole capacity instead of two pieces around the wrap.
    if (size_ == 0) {
        head_ = 0;
    }
}

void RingBuffer::clear() {
    head_ = 0;
    size_ = 0;
}

}  // namespace echod
