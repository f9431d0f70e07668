// Strict parsers for option values, shared by echod and echobench.
//
// Each returns the value or a short reason ("is not a whole number", ...)
// that the caller prefixes with the option's name. Nothing here knows about
// argv or exit codes, so the unit tests can hold every edge.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace common {

inline constexpr std::uint64_t KiB = 1024;
inline constexpr std::uint64_t MiB = 1024 * KiB;

// The reason a value was rejected, e.g. "'12x' is not a whole number".
struct ParseError {
    std::string reason;
};

template <typename T>
using Parsed = std::variant<T, ParseError>;

// A decimal whole number in [min, max]; no sign, no spaces, no suffix.
Parsed<std::uint64_t> parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max);

// SIZE: a whole number of bytes, optionally followed by K/KiB (x1024) or
// M/MiB (x1048576), in [min, max]. Anything else ("k", "KB", "G", "1.5K")
// is rejected.
Parsed<std::uint64_t> parse_size(std::string_view text, std::uint64_t min, std::uint64_t max);

// A non-negative decimal number of seconds ("10", "0.5"), in [min, max].
Parsed<double> parse_seconds(std::string_view text, double min, double max);

// A probability or share ("0.1", "1"), in [min, max] within [0, 1].
Parsed<double> parse_fraction(std::string_view text, double min = 0, double max = 1);

// The grammar of both: digits with at most one '.', no sign or exponent;
// `what` completes "'x' is not ..." in the reason.
Parsed<double> parse_decimal(std::string_view text, double min, double max, std::string_view what);

// How much of a value an error line quotes: a million nines must not become
// a million nines on stderr. Paths are quoted up to PATH_MAX.
inline constexpr std::size_t max_quoted_value = 60;
inline constexpr std::size_t max_quoted_path = 4096;

// text as it may be shown inside '...' in a one-line message: control and
// non-ASCII bytes become \n, \t or \xNN, so user input cannot break the
// line, and past max_bytes of text it is cut, with "..." after it.
std::string printable(std::string_view text, std::size_t max_bytes = max_quoted_value);

// "65536" -> "64KiB", "1048576" -> "1MiB", "1000" -> "1000B": the shortest
// exact spelling that parse_size() accepts back (with B only for display).
std::string format_size(std::uint64_t bytes);

// "1 connection", "0 connections", "2 connections": a count and its noun,
// in lines people read (not in lines scripts parse, which keep one form).
std::string plural(std::uint64_t count, std::string_view noun);

}  // namespace common
