// Reading back what echobench writes (--histogram-out documents), with
// nlohmann-json. Strict: RFC 8259 as nlohmann reads it (no comments, no
// trailing commas, no NaN, no lone surrogates or control characters in
// strings), plus two rules nlohmann leaves out: a duplicate key (nlohmann
// would keep the last silently) and nesting deeper than 64 are errors. Every
// error names the byte offset where it was found.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace echobench {

// Parses text into out. Returns "" or the reason, e.g. "at byte 8: syntax
// error while parsing object key - unexpected '}'; expected string literal".
std::string parse_json(std::string_view text, nlohmann::json& out);

// A number without sign, fraction or exponent that fits, or nothing.
std::optional<std::uint64_t> json_uint(const nlohmann::json& value);
// Any number, as the nearest double; nothing for other types.
std::optional<double> json_double(const nlohmann::json& value);

}  // namespace echobench
