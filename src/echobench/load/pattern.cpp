#include "echobench/load/pattern.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace echobench {
namespace {

// splitmix64's finaliser: a cheap bijection that spreads every input bit.
constexpr std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

std::byte byte_of(std::uint64_t word, std::size_t i) {
    return static_cast<std::byte>(word >> (8 * (i % 8)));
}

std::uint64_t load_le(const std::byte* p) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, sizeof v);  // one unaligned load
    if constexpr (std::endian::native == std::endian::big) {
        v = __builtin_bswap64(v);
    }
    return v;
}

void store_le(std::byte* p, std::uint64_t v) {
    if constexpr (std::endian::native == std::endian::big) {
        v = __builtin_bswap64(v);
    }
    std::memcpy(p, &v, sizeof v);
}

}  // namespace

Pattern::Pattern(std::size_t message_size) : size_(message_size), words_((message_size + 7) / 8) {
    // A fixed seed: the same run of the client always sends the same bytes,
    // which makes a capture (tcpdump) of two runs comparable.
    std::uint64_t state = 0x6563686f62656e63ULL;  // "echobenc"
    for (std::uint64_t& w : words_) {
        state = mix(state);
        w = state;
    }
}

std::uint64_t Pattern::key(std::uint64_t connection, std::uint64_t sequence) {
    return mix(mix(connection) ^ sequence);
}

void Pattern::fill(std::uint64_t connection, std::uint64_t sequence, std::span<std::byte> out) const {
    const std::uint64_t k = key(connection, sequence);
    const std::size_t whole = out.size() / 8;
    for (std::size_t w = 0; w < whole; ++w) {
        store_le(out.data() + 8 * w, words_[w] ^ k);
    }
    for (std::size_t i = 8 * whole; i < out.size(); ++i) {
        out[i] = byte_of(words_[i / 8] ^ k, i);
    }
}

bool Pattern::matches(std::uint64_t connection, std::uint64_t sequence, std::size_t offset,
                      std::span<const std::byte> data) const {
    const std::uint64_t k = key(connection, sequence);
    std::size_t i = offset;
    const std::size_t end = offset + data.size();
    const std::byte* p = data.data();
    // Bytes up to the next word boundary, whole words, then the tail.
    for (; i < end && i % 8 != 0; ++i, ++p) {
        if (*p != byte_of(words_[i / 8] ^ k, i)) {
            return false;
        }
    }
    std::uint64_t diff = 0;
    for (; i + 8 <= end; i += 8, p += 8) {
        diff |= load_le(p) ^ words_[i / 8] ^ k;
    }
    if (diff != 0) {
        return false;
    }
    for (; i < end; ++i, ++p) {
        if (*p != byte_of(words_[i / 8] ^ k, i)) {
            return false;
        }
    }
    return true;
}

StreamChecker::StreamChecker(const Pattern& pattern, std::uint64_t connection, bool verify)
    : pattern_(pattern), connection_(connection), verify_(verify) {}

void StreamChecker::restart(std::uint64_t connection) {
    connection_ = connection;
    sequence_ = 0;
    offset_ = 0;
    bad_ = false;
}

StreamChecker::Step StreamChecker::feed(std::span<const std::byte> data) {
    Step step;
    step.consumed = std::min(data.size(), pattern_.message_size() - offset_);
    if (verify_ && !bad_ && !pattern_.matches(connection_, sequence_, offset_, data.first(step.consumed))) {
        bad_ = true;
    }
    offset_ += step.consumed;
    if (offset_ == pattern_.message_size()) {
        step.complete = true;
        step.mismatch = bad_;
        ++sequence_;
        offset_ = 0;
        bad_ = false;
    }
    return step;
}

}  // namespace echobench
