#include "echod/ring_buffer.h"

#include <algorithm>

#include <cassert>

namespace echod {

// new char[] without "()" leaves the bytes uninitialised, so the kernel maps
// pages only as they are first written: a big ring that is used lightly is cheap.
RingBuffer::RingBuffer(std::size_t capacity) : data_(new char[capacity]), capacity_(capacity) {
    assert(capacity >= 1);
}

std::array<std::span<const char>, 2> RingBuffer::readable_spans(std::size_t max) const {
    auto spans = readable_spans();
    if (spans[0].size() >= max) {
        return {spans[0].first(max), std::span<const char>()};
    }
    return {spans[0], spans[1].first(std::min(max - spans[0].size(), spans[1].size()))};
}

}  // namespace echod
