// Faults on purpose (--fault): what they are, how a spec is read, and the
// decisions a misbehaving connection makes. Pure: the caller supplies the
// clock (microseconds), so every rule is unit-tested; connection_faults.cpp
// and udp_faults.cpp carry the decisions out on the loop.
//
// A connection that drew faults asks its FaultShaper before every write:
// how many of the bytes in the ring may go now, and if none, until when to
// wait. The bytes never leave the ring early, so memory and backpressure
// are what they always are.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace echod {

enum class Fault { slice, delay, rate, close, reset, stall, drop };
inline constexpr std::size_t fault_kinds = 7;

// "slice", "delay", ... as in the spec and the metrics' fault label.
std::string_view to_string(Fault fault);

// How a connection ends once end_after bytes were echoed.
enum class FaultEnd { none, close, reset, stall };

struct FaultConfig {
    std::size_t slice = 0;             // each write at most this many bytes; 0: not cut
    std::uint64_t slice_pause_us = 0;  // between two writes of a slice
    bool delay = false;                // hold bytes back for delay_us (+- jitter_us)
    std::uint64_t delay_us = 0;
    std::uint64_t jitter_us = 0;
    std::uint64_t rate = 0;                      // bytes per second per connection; 0: no cap
    FaultEnd end = FaultEnd::none;               // close, reset or stall ...
    std::uint64_t end_after = 0;                 // ... after this many bytes echoed
    double drop = 0;                             // UDP: each datagram lost with this probability
    std::array<std::string, fault_kinds> specs;  // as given, by Fault; "" when not given
    double share = 1;                            // fraction of connections that get the faults
    std::optional<std::uint64_t> seed;           // --fault-seed; drawn at start when not given

    bool any() const;
    bool shapes_writes() const { return slice != 0 || delay || rate != 0; }
};

// The same faults given (specs, share and seed): a reload changed nothing.
bool same_faults(const FaultConfig& a, const FaultConfig& b);

// The largest numbers a spec takes.
inline constexpr double max_fault_seconds = 3600;
inline constexpr std::uint64_t max_fault_rate = 4096ULL * 1024 * 1024;  // bytes per second

// Adds one --fault SPEC ("slice=7,pause=0.001", "close=1KiB", ...) to
// faults; the same fault again replaces the earlier one. Returns "" or the
// reason, naming the spec ("'slice=0': ...").
std::string add_fault(std::string_view spec, FaultConfig& faults);

// The specs given, printable, space-separated ("" when none).
std::string fault_specs_text(const FaultConfig& faults);

// "slice=7,pause=0.001 delay=0.002 (share 0.5, seed 42)": what the faults
// on: line shows. Needs the seed resolved.
std::string describe_faults(const FaultConfig& faults);

// splitmix64: small, fast, and the same numbers on every machine, so a
// seed replays.
class FaultRandom {
public:
    explicit FaultRandom(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next();
    double uniform();  // in [0, 1)

private:
    std::uint64_t state_;
};

// One delay draw: delay_us, plus or minus up to jitter_us (never below 0).
std::uint64_t draw_delay_us(const FaultConfig& config, FaultRandom& draws);

// Which connections misbehave: one draw per accepted connection, in accept
// order, from the seed. A chosen connection gets a seed of its own for its
// jitter, made from the seed and its accept number, so that other
// connections' traffic does not change its draws.
class FaultPlan {
public:
    FaultPlan(double share, std::uint64_t seed) : share_(share), seed_(seed), draws_(seed) {}

    // At accept: the connection's own seed, or nothing if it stays honest.
    std::optional<std::uint64_t> draw_connection();

private:
    double share_;
    std::uint64_t seed_;
    FaultRandom draws_;
    std::uint64_t accepted_ = 0;
};

// Delay's promise, kept with a bounded queue: "the bytes read up to here
// are due at this time". Reads past its capacity join the last entry, which
// then waits for the later of the two due times: never sooner, never more
// memory.
class DelayQueue {
public:
    // bytes more arrived; due_us is when they may go.
    void push(std::uint64_t end_offset, std::uint64_t due_us);
    // Bytes up to this offset are due at now_us (0 when none).
    std::uint64_t due_until(std::uint64_t now_us) const;
    // When the first not yet due byte beyond sent is due (0: none waiting).
    std::uint64_t next_due_after(std::uint64_t sent) const;
    // Entries whose bytes are all sent are forgotten.
    void forget_until(std::uint64_t sent);
    std::size_t size() const { return count_; }

    static constexpr std::size_t capacity = 64;

private:
    struct Entry {
        std::uint64_t end = 0;  // offset just past the bytes of this entry
        std::uint64_t due = 0;  // when they may be written, microseconds
    };
    const Entry& at(std::size_t i) const { return entries_[(first_ + i) % capacity]; }
    std::array<Entry, capacity> entries_{};
    std::size_t first_ = 0;
    std::size_t count_ = 0;
};

// One misbehaving connection's decisions: slice, delay and rate shape when
// and how much is written; end says what happens after end_after bytes.
class FaultShaper {
public:
    FaultShaper(const FaultConfig& config, std::uint64_t seed, std::uint64_t now_us);

    // bytes were read into the ring at now_us.
    void on_read(std::size_t bytes, std::uint64_t now_us);

    struct Decision {
        std::size_t bytes = 0;         // write this many now (0: none now)
        std::uint64_t wait_until = 0;  // else ask again then (0: nothing to wait for)
        std::optional<Fault> limited;  // the fault that cut or held back this write
    };
    // What to do with readable bytes at now_us.
    Decision next_write(std::size_t readable, std::uint64_t now_us);

    // bytes were handed to the socket at now_us.
    void on_written(std::size_t bytes, std::uint64_t now_us);

    // The connection has echoed all it may: time to close, reset or stall.
    bool end_due() const { return config_.end != FaultEnd::none && written_ >= config_.end_after; }
    FaultEnd end() const { return config_.end; }

private:
    void refill(std::uint64_t now_us);

    const FaultConfig& config_;
    FaultRandom jitter_;
    DelayQueue delay_;
    std::uint64_t read_ = 0;      // bytes read, since accept
    std::uint64_t written_ = 0;   // bytes handed to the socket, since accept
    std::uint64_t last_due_ = 0;  // the latest due time given so far (order kept)
    bool wrote_once_ = false;
    std::uint64_t last_write_us_ = 0;
    double tokens_ = 0;  // rate: bytes that may go now
    double burst_ = 0;   // rate: at most this many at once
    std::uint64_t refilled_us_ = 0;
};

}  // namespace echod
