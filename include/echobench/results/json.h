// A small, strict JSON reader: enough to read back what echobench writes
// (--histogram-out documents) and nothing more. RFC 8259 grammar, one value
// per text; anything else (trailing commas, comments, NaN, duplicate keys,
// lone surrogates, control characters in strings, nesting deeper than 64)
// is an error naming the byte offset. Numbers keep their text, so that
// integers read back exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace echobench {

struct JsonValue {
    enum class Type { null, boolean, number, string, array, object };
    Type type = Type::null;
    bool boolean = false;
    std::string text;               // a string's value, or a number as written
    std::vector<JsonValue> items;   // array
    std::vector<std::string> keys;  // object: member names, in order
    std::vector<JsonValue> values;  // object: their values

    // An object's member, or nullptr (also when this is not an object).
    const JsonValue* find(std::string_view key) const;
    // A number without sign, fraction or exponent that fits, or nothing.
    std::optional<std::uint64_t> as_uint() const;
    // Any number, as the nearest double; nothing for other types.
    std::optional<double> as_double() const;
};

// Parses text into out. Returns "" or the reason, e.g. "at byte 17: expected ','".
std::string parse_json(std::string_view text, JsonValue& out);

}  // namespace echobench
