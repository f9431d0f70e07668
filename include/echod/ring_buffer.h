// A fixed-capacity byte ring that hands out spans instead of copying.
//
// The socket reads straight into writable spans and writes straight from
// readable spans; the ring only moves its indices (commit after a read,
// consume after a write). It knows nothing of sockets or libuv. The calls
// an echo makes are inline: each echo makes several.
//
//   no wrap:   [ free | readable ......... | free ]
//                     ^head_               ^head_ + size_
//
//   wrapped:   [ readable (2nd) | free | readable (1st) ]
//                               ^tail           ^head_
//
// Readable bytes start at head_ and run for size_ bytes, wrapping at
// capacity_. Writable bytes are the rest, starting where readable ends.
// Either may be split in two at the wrap, so both come as a pair of spans;
// the second is empty when no wrap is involved.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <memory>
#include <span>

namespace echod {

class RingBuffer {
public:
    // capacity must be at least 1; memory is reserved but not touched, so
    // untouched pages cost no RSS.
    explicit RingBuffer(std::size_t capacity);

    RingBuffer(const RingBuffer&) = delete;
    RingBuffer& operator=(const RingBuffer&) = delete;

    std::size_t capacity() const { return capacity_; }
    std::span<char> whole() { return {data_.get(), capacity_}; }  // the memory, whatever it holds
    std::size_t readable() const { return size_; }
    std::size_t writable() const { return capacity_ - size_; }
    bool empty() const { return size_ == 0; }
    bool full() const { return size_ == capacity_; }

    // The free space in order: where the next bytes go, then (at the wrap)
    // the rest. Their sizes add up to writable().
    std::array<std::span<char>, 2> writable_spans() {
        std::size_t tail = wrap(head_ + size_);
        if (tail >= head_ && size_ != capacity_) {
            // Free space runs from tail to the end, then from 0 to head_.
            return {std::span<char>(data_.get() + tail, capacity_ - tail), std::span<char>(data_.get(), head_)};
        }
        // Free space is the gap between tail and head_ (empty when full).
        return {std::span<char>(data_.get() + tail, writable()), std::span<char>()};
    }

    // The stored bytes in order, oldest first. Sizes add up to readable().
    std::array<std::span<const char>, 2> readable_spans() const {
        std::size_t first = capacity_ - head_;
        if (size_ <= first) {
            return {std::span<const char>(data_.get() + head_, size_), std::span<const char>()};
        }
        return {std::span<const char>(data_.get() + head_, first), std::span<const char>(data_.get(), size_ - first)};
    }
    // The oldest max bytes of them (all of them if fewer).
    std::array<std::span<const char>, 2> readable_spans(std::size_t max) const;

    // n bytes were written into the front of writable_spans(); n <= writable().
    void commit(std::size_t n) {
        assert(n <= writable());
        size_ += n;
    }

    // n bytes were taken from the front of readable_spans(); n <= readable().
    void consume(std::size_t n) {
        assert(n <= readable());
        head_ = wrap(head_ + n);
        size_ -= n;
        // An empty ring restarts at 0 so the next read gets one contiguous span
        // of the whole capacity instead of two pieces around the wrap.
        if (size_ == 0) {
            head_ = 0;
        }
    }

    // Forgets all stored bytes.
    void clear() {
        head_ = 0;
        size_ = 0;
    }

private:
    std::size_t wrap(std::size_t index) const { return index >= capacity_ ? index - capacity_ : index; }

    std::unique_ptr<char[]> data_;  // capacity_ bytes
    std::size_t capacity_;          // fixed at construction, >= 1
    std::size_t head_ = 0;          // index of the oldest readable byte, < capacity_
    std::size_t size_ = 0;          // readable bytes, <= capacity_
};

}  // namespace echod
