#include "echod/faults.h"

#include "common/parse.h"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace echod {
namespace {

constexpr std::array<Fault, fault_kinds> all_faults = {Fault::slice, Fault::delay, Fault::rate, Fault::close,
                                                       Fault::reset, Fault::stall, Fault::drop};

// The largest slice and the largest byte count before close, reset or stall.
constexpr std::uint64_t max_slice = 256 * common::MiB;
constexpr std::uint64_t max_end_after = std::numeric_limits<std::uint64_t>::max() / 2;
constexpr double max_slice_pause = 60;

std::uint64_t to_us(double seconds) {
    return static_cast<std::uint64_t>(std::ceil(seconds * 1e6));
}

std::size_t index_of(Fault fault) {
    return static_cast<std::size_t>(fault);
}

// "name=value" split at the first '='; name is "" without one.
std::pair<std::string_view, std::string_view> split_pair(std::string_view text) {
    std::size_t equals = text.find('=');
    if (equals == std::string_view::npos) {
        return {{}, text};
    }
    return {text.substr(0, equals), text.substr(equals + 1)};
}

}  // namespace

std::string_view to_string(Fault fault) {
    switch (fault) {
        case Fault::slice:
            return "slice";
        case Fault::delay:
            return "delay";
        case Fault::rate:
            return "rate";
        case Fault::close:
            return "close";
        case Fault::reset:
            return "reset";
        case Fault::stall:
            return "stall";
        case Fault::drop:
            return "drop";
    }
    return "?";
}

bool FaultConfig::any() const {
    return std::any_of(specs.begin(), specs.end(), [](const std::string& spec) { return !spec.empty(); });
}

std::string add_fault(std::string_view spec, FaultConfig& faults) {
    auto fail = [spec](std::string_view what) { return fmt::format("'{}': {}", common::printable(spec), what); };
    std::vector<std::string_view> parts;
    for (std::string_view rest = spec;;) {
        std::size_t comma = rest.find(',');
        parts.push_back(rest.substr(0, comma));
        if (comma == std::string_view::npos) {
            break;
        }
        rest = rest.substr(comma + 1);
    }
    auto [name, value] = split_pair(parts.front());
    std::optional<Fault> fault;
    for (Fault f : all_faults) {
        if (name == to_string(f)) {
            fault = f;
        }
    }
    for (Fault f : all_faults) {
        if (name.empty() && value == to_string(f)) {
            return fail(fmt::format("needs a value ({}=...)", value));
        }
    }
    if (!fault) {
        return fail(
            "unknown fault (one of slice=SIZE, delay=SECONDS, rate=SIZE, close=SIZE, reset=SIZE, "
            "stall=SIZE, drop=P)");
    }

    // The value, checked and converted; a reason on failure.
    std::string reason;
    auto size = [&](std::string_view text, std::uint64_t min, std::uint64_t max, std::uint64_t& out) {
        auto parsed = common::parse_size(text, min, max);
        if (auto* error = std::get_if<common::ParseError>(&parsed)) {
            reason = error->reason;
            return false;
        }
        out = std::get<std::uint64_t>(parsed);
        return true;
    };
    auto seconds = [&](std::string_view text, double max, std::uint64_t& out_us) {
        auto parsed = common::parse_seconds(text, 0, max);
        if (auto* error = std::get_if<common::ParseError>(&parsed)) {
            reason = error->reason;
            return false;
        }
        out_us = to_us(std::get<double>(parsed));
        return true;
    };

    // Work on a copy: a spec that fails changes nothing.
    FaultConfig next = faults;
    bool ok = true;
    const char* parameter = nullptr;  // the one optional key=value this fault takes
    switch (*fault) {
        case Fault::slice: {
            std::uint64_t bytes = 0;
            ok = size(value, 1, max_slice, bytes);
            next.slice = static_cast<std::size_t>(bytes);
            next.slice_pause_us = 0;
            parameter = "pause";
            break;
        }
        case Fault::delay:
            ok = seconds(value, max_fault_seconds, next.delay_us);
            next.delay = true;
            next.jitter_us = 0;
            parameter = "jitter";
            break;
        case Fault::rate:
            ok = size(value, 1, max_fault_rate, next.rate);
            break;
        case Fault::close:
        case Fault::reset:
        case Fault::stall: {
            static constexpr std::array<FaultEnd, 3> ends = {FaultEnd::close, FaultEnd::reset, FaultEnd::stall};
            FaultEnd end = ends[index_of(*fault) - index_of(Fault::close)];
            if (faults.end != FaultEnd::none && faults.end != end) {
                std::size_t other = index_of(Fault::close) + static_cast<std::size_t>(faults.end) - 1;
                return fail(fmt::format("cannot be combined with '{}' (close, reset and stall exclude one another)",
                                        common::printable(faults.specs[other])));
            }
            ok = size(value, 0, max_end_after, next.end_after);
            next.end = end;
            break;
        }
        case Fault::drop: {
            auto parsed = common::parse_fraction(value);
            if (auto* error = std::get_if<common::ParseError>(&parsed)) {
                reason = error->reason;
                ok = false;
            } else {
                next.drop = std::get<double>(parsed);
            }
            break;
        }
    }
    if (!ok) {
        return fail(reason);
    }
    for (std::size_t i = 1; i < parts.size(); ++i) {
        auto [key, text] = split_pair(parts[i]);
        if (parameter == nullptr || key != parameter) {
            return fail(parameter == nullptr ? fmt::format("{} takes no parameters", name)
                                             : fmt::format("unknown parameter '{}' ({} takes {}=SECONDS)",
                                                           common::printable(parts[i]), name, parameter));
        }
        std::uint64_t& field = *fault == Fault::slice ? next.slice_pause_us : next.jitter_us;
        if (!seconds(text, *fault == Fault::slice ? max_slice_pause : max_fault_seconds, field)) {
            return fail(fmt::format("{}: {}", key, reason));
        }
    }
    next.specs[index_of(*fault)] = std::string(spec);
    faults = std::move(next);
    return {};
}

bool same_faults(const FaultConfig& a, const FaultConfig& b) {
    return a.specs == b.specs && a.share == b.share && a.seed == b.seed;
}

std::string fault_specs_text(const FaultConfig& faults) {
    std::string out;
    for (const std::string& spec : faults.specs) {
        if (!spec.empty()) {
            out += out.empty() ? "" : " ";
            out += common::printable(spec);
        }
    }
    return out;
}

std::string describe_faults(const FaultConfig& faults) {
    return fmt::format("{} (share {:g}, seed {})", fault_specs_text(faults), faults.share, faults.seed.value_or(0));
}

std::uint64_t FaultRandom::next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
}

double FaultRandom::uniform() {
    return static_cast<double>(next() >> 11U) * 0x1.0p-53;
}

std::uint64_t draw_delay_us(const FaultConfig& config, FaultRandom& draws) {
    if (config.jitter_us == 0) {
        return config.delay_us;
    }
    double offset = (draws.uniform() * 2 - 1) * static_cast<double>(config.jitter_us);
    double delay = static_cast<double>(config.delay_us) + offset;
    return delay <= 0 ? 0 : static_cast<std::uint64_t>(std::ceil(delay));
}

std::optional<std::uint64_t> FaultPlan::draw_connection() {
    std::uint64_t number = accepted_++;
    // One draw per connection whatever the share, so that the same seed
    // picks the same connections by accept order.
    double draw = draws_.uniform();
    if (draw >= share_) {
        return std::nullopt;
    }
    FaultRandom own(seed_ ^ (number * 0xd1b54a32d192ed03ULL));
    return own.next();
}

void DelayQueue::push(std::uint64_t end_offset, std::uint64_t due_us) {
    if (count_ == capacity) {
        // Full: the new bytes join the last entry, which waits for the later
        // due time, so no byte goes sooner than promised.
        Entry& last = entries_[(first_ + count_ - 1) % capacity];
        last.end = end_offset;
        last.due = std::max(last.due, due_us);
        return;
    }
    entries_[(first_ + count_) % capacity] = Entry{end_offset, due_us};
    ++count_;
}

std::uint64_t DelayQueue::due_until(std::uint64_t now_us) const {
    std::uint64_t until = 0;
    for (std::size_t i = 0; i < count_ && at(i).due <= now_us; ++i) {
        until = at(i).end;
    }
    return until;
}

std::uint64_t DelayQueue::next_due_after(std::uint64_t sent) const {
    for (std::size_t i = 0; i < count_; ++i) {
        if (at(i).end > sent) {
            return at(i).due;
        }
    }
    return 0;
}

void DelayQueue::forget_until(std::uint64_t sent) {
    while (count_ != 0 && at(0).end <= sent) {
        first_ = (first_ + 1) % capacity;
        --count_;
    }
}

FaultShaper::FaultShaper(const FaultConfig& config, std::uint64_t seed, std::uint64_t now_us)
    : config_(config),
      jitter_(seed),
      burst_(std::max(1.0, static_cast<double>(config.rate) / 20)),
      refilled_us_(now_us) {
    tokens_ = burst_;
}

void FaultShaper::on_read(std::size_t bytes, std::uint64_t now_us) {
    read_ += bytes;
    if (config_.delay) {
        // Order kept: a read never becomes due before the one before it.
        last_due_ = std::max(last_due_, now_us + draw_delay_us(config_, jitter_));
        delay_.push(read_, last_due_);
    }
}

void FaultShaper::refill(std::uint64_t now_us) {
    if (now_us > refilled_us_) {
        tokens_ = std::min(
            burst_, tokens_ + static_cast<double>(now_us - refilled_us_) * static_cast<double>(config_.rate) / 1e6);
        refilled_us_ = now_us;
    }
}

FaultShaper::Decision FaultShaper::next_write(std::size_t readable, std::uint64_t now_us) {
    Decision decision;
    std::uint64_t allowed = readable;
    if (config_.end != FaultEnd::none) {
        allowed = std::min(allowed, config_.end_after > written_ ? config_.end_after - written_ : 0);
    }
    if (allowed == 0) {
        return decision;
    }
    if (config_.delay) {
        std::uint64_t due = delay_.due_until(now_us);
        if (due <= written_) {
            decision.wait_until = delay_.next_due_after(written_);
            decision.limited = Fault::delay;
            return decision;
        }
        allowed = std::min(allowed, due - written_);
    }
    if (config_.slice != 0) {
        if (wrote_once_ && now_us < last_write_us_ + config_.slice_pause_us) {
            decision.wait_until = last_write_us_ + config_.slice_pause_us;  // the pause of a slice already counted
            return decision;
        }
        if (allowed > config_.slice) {
            allowed = config_.slice;
            decision.limited = Fault::slice;
        }
    }
    if (config_.rate != 0) {
        refill(now_us);
        double wanted = std::min(static_cast<double>(allowed), burst_);
        if (tokens_ < wanted) {
            double wait_us = (wanted - tokens_) * 1e6 / static_cast<double>(config_.rate);
            decision.wait_until = now_us + std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(wait_us)));
            decision.limited = Fault::rate;
            return decision;
        }
        auto whole = static_cast<std::uint64_t>(tokens_);
        if (allowed > whole) {
            allowed = whole;
            decision.limited = Fault::rate;
        }
    }
    decision.bytes = static_cast<std::size_t>(allowed);
    return decision;
}

void FaultShaper::on_written(std::size_t bytes, std::uint64_t now_us) {
    written_ += bytes;
    wrote_once_ = true;
    last_write_us_ = now_us;
    if (config_.rate != 0) {
        tokens_ -= static_cast<double>(bytes);
    }
    delay_.forget_until(written_);
}

}  // namespace echod
