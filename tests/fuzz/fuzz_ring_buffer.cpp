// libFuzzer target: the ring buffer against a model (std::deque).
//
// Each input is a capacity byte followed by a script of operations: put n
// bytes (through writable_spans + commit, as a socket read does) or take n
// bytes (through readable_spans + consume, as a socket write does). After
// every step the ring must hold exactly the model's bytes, in order, and its
// spans must add up to readable()/writable().
#include "echod/ring_buffer.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    std::size_t capacity = 1 + data[0] % 64;
    echod::RingBuffer ring(capacity);
    std::deque<char> model;
    char next = 0;

    for (std::size_t i = 1; i < size; ++i) {
        std::uint8_t op = data[i];
        std::size_t n = (op >> 1) % (capacity + 2);
        if ((op & 1) == 0) {
            // put: offer n bytes, the ring takes what fits.
            std::size_t done = 0;
            for (std::span<char> span : ring.writable_spans()) {
                std::size_t k = std::min(span.size(), n - done);
                for (std::size_t j = 0; j < k; ++j) {
                    span[j] = static_cast<char>(next + static_cast<char>(done + j));
                }
                done += k;
            }
            check(done == std::min(n, capacity - model.size()));
            ring.commit(done);
            for (std::size_t j = 0; j < done; ++j) {
                model.push_back(static_cast<char>(next + static_cast<char>(j)));
            }
            next = static_cast<char>(next + static_cast<char>(done));
        } else {
            // take: up to n bytes, oldest first.
            std::size_t done = 0;
            for (std::span<const char> span : ring.readable_spans()) {
                std::size_t k = std::min(span.size(), n - done);
                for (std::size_t j = 0; j < k; ++j) {
                    check(!model.empty() && span[j] == model.front());
                    model.pop_front();
                }
                done += k;
            }
            ring.consume(done);
        }
        auto r = ring.readable_spans();
        auto w = ring.writable_spans();
        check(ring.readable() == model.size());
        check(r[0].size() + r[1].size() == ring.readable());
        check(w[0].size() + w[1].size() == ring.writable());
        check(ring.empty() == model.empty() && ring.full() == (model.size() == capacity));
        // A second span exists only at the wrap: the first runs to the end of
        // the storage and the second starts at its beginning.
        auto end = static_cast<std::ptrdiff_t>(capacity);
        check(r[1].empty() || r[0].data() + r[0].size() == r[1].data() + end);
        check(w[1].empty() || w[0].data() + w[0].size() == w[1].data() + end);
    }
    return 0;
}
