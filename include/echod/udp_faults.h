// --fault on a UDP echo socket (--udp): drop=P loses datagrams, delay holds
// them back in a bounded queue and sends them when due, in order. The
// other faults are about streams and do not apply to datagrams.
#pragma once

#include "echod/fault_clock.h"
#include "echod/faults.h"
#include "echod/stats.h"

#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace echod {

// One datagram back to `to`, now or never: UDP promises no more, and
// queuing would let a flood grow memory. Counted as sent or dropped.
void send_datagram(uv_udp_t* udp, const char* data, std::size_t length, const sockaddr* to, Stats& stats);

class UdpFaults {
public:
    // Datagrams of udp; at most max_bytes (and max_datagrams) held back at
    // once, beyond which they are dropped and counted.
    UdpFaults(FaultContext& faults, Stats& stats, uv_udp_t* udp, std::size_t max_bytes, std::uint64_t seed);
    UdpFaults(const UdpFaults&) = delete;
    UdpFaults& operator=(const UdpFaults&) = delete;
    ~UdpFaults() { cancel(); }

    // A whole datagram from `from`: dropped, held back, or echoed now.
    void receive(const char* data, std::size_t length, const sockaddr* from);

    // The socket is closing: what is held back is dropped.
    void cancel();

    static constexpr std::size_t max_datagrams = 1024;

private:
    struct Held {
        std::uint64_t due_us;
        sockaddr_storage to;
        std::vector<char> data;
    };

    static void on_due(void* self);
    void send_due();

    FaultContext& faults_;
    Stats& stats_;
    uv_udp_t* udp_;
    std::size_t max_bytes_;
    FaultRandom draws_;  // drop and jitter, in the order datagrams arrive
    std::deque<Held> held_;
    std::size_t held_bytes_ = 0;
    std::uint64_t last_due_ = 0;  // order kept, as on a connection
    FaultClock::Timer timer_;
};

}  // namespace echod
