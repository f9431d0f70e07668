#include "echod/udp_faults.h"

#include "common/log.h"

#include <algorithm>
#include <cstring>

namespace echod {
namespace {

std::size_t index_of(Fault fault) {
    return static_cast<std::size_t>(fault);
}

}  // namespace

UdpFaults::UdpFaults(FaultContext& faults, Stats& stats, uv_udp_t* udp, std::size_t max_bytes, std::uint64_t seed)
    : faults_(faults), stats_(stats), udp_(udp), max_bytes_(max_bytes), draws_(seed) {
    timer_.owner = this;
    timer_.fire = on_due;
}

void UdpFaults::receive(const char* data, std::size_t length, const sockaddr* from) {
    const FaultConfig& config = faults_.first_config();
    // One draw per datagram whatever P is, so the same seed drops the same
    // datagrams by arrival order.
    if (config.drop > 0 && draws_.uniform() < config.drop) {
        ++stats_.faults[index_of(Fault::drop)];
        return;
    }
    if (!config.delay) {
        send_datagram(udp_, data, length, from, stats_);
        return;
    }
    if (held_.size() == max_datagrams || held_bytes_ + length > max_bytes_) {
        ++stats_.udp_dropped;  // the queue is bounded: UDP may lose, memory may not grow
        return;
    }
    std::uint64_t now = FaultClock::now_us();
    last_due_ = std::max(last_due_, now + draw_delay_us(config, draws_));
    Held held{last_due_, {}, std::vector<char>(data, data + length)};
    std::memcpy(&held.to, from, from->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    held_.push_back(std::move(held));
    held_bytes_ += length;
    ++stats_.faults[index_of(Fault::delay)];
    if (held_.size() == 1) {
        faults_.clock.schedule(timer_, last_due_);
    }
}

void UdpFaults::on_due(void* self) {
    static_cast<UdpFaults*>(self)->send_due();
}

void UdpFaults::send_due() {
    std::uint64_t now = FaultClock::now_us();
    while (!held_.empty() && held_.front().due_us <= now) {
        Held& first = held_.front();
        send_datagram(udp_, first.data.data(), first.data.size(), reinterpret_cast<const sockaddr*>(&first.to), stats_);
        held_bytes_ -= first.data.size();
        held_.pop_front();
    }
    if (!held_.empty()) {
        faults_.clock.schedule(timer_, held_.front().due_us);
    }
}

void send_datagram(uv_udp_t* udp, const char* data, std::size_t length, const sockaddr* to, Stats& stats) {
    uv_buf_t reply = uv_buf_init(const_cast<char*>(data), static_cast<unsigned int>(length));
    if (uv_udp_try_send(udp, &reply, 1, to) >= 0) {
        ++stats.udp_out;
    } else {
        ++stats.udp_dropped;
    }
}

void UdpFaults::cancel() {
    faults_.clock.cancel(timer_);
    held_.clear();
    held_bytes_ = 0;
}

}  // namespace echod
