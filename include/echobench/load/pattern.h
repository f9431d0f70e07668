// What each message carries, and how the receiving side checks it.
//
// Byte i of message (connection c, sequence s) is byte i % 8 (little-endian)
// of words[i / 8] ^ key(c, s): words is one fixed pseudo-random block as long
// as a message, key a 64-bit mix of c and s. So every message of a run differs
// from every other, and a wrong byte, a lost or duplicated run of bytes (the
// stream shifts against the random block), a message from another connection
// or out of order (wrong key) all fail the comparison. Filling and checking
// cost one XOR per 8 bytes: cheap next to the system calls that move them.
//
// Messages shorter than 8 bytes carry fewer key bits; a 1-byte message can
// only tell 256 neighbours apart.
//
// Pure: no libuv, no clocks. A Pattern is immutable once built and may be
// shared by threads; a StreamChecker belongs to one connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace echobench {

class Pattern {
public:
    explicit Pattern(std::size_t message_size);

    std::size_t message_size() const { return size_; }

    // Writes message (connection, sequence) into out (out.size() == message_size()).
    void fill(std::uint64_t connection, std::uint64_t sequence, std::span<std::byte> out) const;

    // Whether data equals bytes [offset, offset + data.size()) of message
    // (connection, sequence); the range must lie within the message.
    bool matches(std::uint64_t connection, std::uint64_t sequence, std::size_t offset,
                 std::span<const std::byte> data) const;

private:
    static std::uint64_t key(std::uint64_t connection, std::uint64_t sequence);

    std::size_t size_;                  // bytes per message
    std::vector<std::uint64_t> words_;  // ceil(size_ / 8) pseudo-random words
};

// The receiving end of one connection: the echoed stream should be messages
// 0, 1, 2, ... of that connection, back to back, split anywhere by TCP.
class StreamChecker {
public:
    // pattern must outlive the checker.
    StreamChecker(const Pattern& pattern, std::uint64_t connection, bool verify = true);

    struct Step {
        std::size_t consumed = 0;  // bytes of data taken (up to the message's end)
        bool complete = false;     // the current message is now whole...
        bool mismatch = false;     // ...and some byte of it differed (only if complete)
    };

    // Takes bytes of the current message from the front of data; call again
    // with the rest while data remains. With verify off, only counts.
    Step feed(std::span<const std::byte> data);

    // A new connection (churn): its stream starts again at message 0.
    void restart(std::uint64_t connection);

    std::uint64_t sequence() const { return sequence_; }  // the message being received
    std::size_t offset() const { return offset_; }        // bytes of it received so far

private:
    const Pattern& pattern_;
    std::uint64_t connection_;
    bool verify_;
    std::uint64_t sequence_ = 0;
    std::size_t offset_ = 0;
    bool bad_ = false;  // the current message already differed
};

}  // namespace echobench
