#include "common/parse.h"

#include <fmt/format.h>
#include <charconv>
#include <cmath>

namespace common {
namespace {

bool all_digits(std::string_view text) {
    if (text.empty()) {
        return false;
    }
    for (char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return true;
}

ParseError out_of_range(std::string_view shown, std::string_view min, std::string_view max) {
    return ParseError{fmt::format("{} is out of range {}..{}", shown, min, max)};
}

}  // namespace

Parsed<std::uint64_t> parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max) {
    if (!all_digits(text)) {
        return ParseError{fmt::format("'{}' is not a whole number", printable(text))};
    }
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range || (ec == std::errc{} && (value < min || value > max))) {
        return out_of_range(printable(text), std::to_string(min), std::to_string(max));
    }
    if (ec != std::errc{} || end != text.data() + text.size()) {
        return ParseError{fmt::format("'{}' is not a whole number", printable(text))};
    }
    return value;
}

Parsed<std::uint64_t> parse_size(std::string_view text, std::uint64_t min, std::uint64_t max) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
        ++digits;
    }
    std::string_view number = text.substr(0, digits);
    std::string_view suffix = text.substr(digits);

    std::uint64_t unit = 0;
    if (suffix.empty()) {
        unit = 1;
    } else if (suffix == "K" || suffix == "KiB") {
        unit = KiB;
    } else if (suffix == "M" || suffix == "MiB") {
        unit = MiB;
    }
    if (number.empty() || unit == 0) {
        return ParseError{fmt::format("'{}' is not a size (a whole number of bytes, optionally with K, KiB, M or MiB)",
                                      printable(text))};
    }

    std::uint64_t count = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), count);
    (void)end;
    bool overflow = ec == std::errc::result_out_of_range || count > UINT64_MAX / unit;
    if (overflow || count * unit < min || count * unit > max) {
        return out_of_range(printable(text), format_size(min), format_size(max));
    }
    return count * unit;
}

Parsed<double> parse_seconds(std::string_view text, double min, double max) {
    return parse_decimal(text, min, max, "a number of seconds");
}

Parsed<double> parse_fraction(std::string_view text, double min, double max) {
    return parse_decimal(text, min, max, "a number from 0 to 1");
}

Parsed<double> parse_decimal(std::string_view text, double min, double max, std::string_view what) {
    // Digits with at most one '.', and at least one digit: no sign, exponent,
    // "inf" or "nan", which from_chars would otherwise accept.
    bool seen_dot = false;
    bool seen_digit = false;
    for (char c : text) {
        if (c == '.' && !seen_dot) {
            seen_dot = true;
        } else if (c >= '0' && c <= '9') {
            seen_digit = true;
        } else {
            seen_digit = false;
            break;
        }
    }
    double value = 0;
    if (seen_digit) {
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        seen_digit = ec == std::errc{} && end == text.data() + text.size();
    }
    if (!seen_digit) {
        return ParseError{fmt::format("'{}' is not {}", printable(text), what)};
    }
    if (!std::isfinite(value) || value < min || value > max) {
        return out_of_range(printable(text), fmt::format("{:g}", min), fmt::format("{:g}", max));
    }
    return value;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
    const bool cut = text.size() > max_bytes;
    if (cut) {
        text = text.substr(0, max_bytes);
    }
    std::string out;
    out.reserve(text.size() + 3);
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (byte < 0x20 || byte >= 0x7f) {
            out += fmt::format("\\x{:02x}", byte);
        } else {
            out += c;
        }
    }
    if (cut) {
        out += "...";
    }
    return out;
}

std::string format_size(std::uint64_t bytes) {
    if (bytes != 0 && bytes % MiB == 0) {
        return fmt::format("{}MiB", bytes / MiB);
    }
    if (bytes != 0 && bytes % KiB == 0) {
        return fmt::format("{}KiB", bytes / KiB);
    }
    return fmt::format("{}B", bytes);
}

std::string plural(std::uint64_t count, std::string_view noun) {
    return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

}  // namespace common
