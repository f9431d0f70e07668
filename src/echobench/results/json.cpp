#include "echobench/results/json.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace echobench {
namespace {

constexpr int max_depth = 64;

class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    std::string parse(JsonValue& out) {
        skip_space();
        if (!value(out, 0)) {
            return error_;
        }
        skip_space();
        if (pos_ != text_.size()) {
            fail("unexpected text after the value");
            return error_;
        }
        return {};
    }

private:
    bool fail(std::string_view what) {
        if (error_.empty()) {
            error_ = fmt::format("at byte {}: {}", pos_, what);
        }
        return false;
    }

    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }

    void skip_space() {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
            ++pos_;
        }
    }

    bool literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) {
            return fail("unexpected character");
        }
        pos_ += word.size();
        return true;
    }

    bool value(JsonValue& out, int depth) {
        if (at_end()) {
            return fail("unexpected end of input");
        }
        switch (peek()) {
            case '{':
                return object(out, depth + 1);
            case '[':
                return array(out, depth + 1);
            case '"':
                out.type = JsonValue::Type::string;
                return string(out.text);
            case 't':
                out.type = JsonValue::Type::boolean;
                out.boolean = true;
                return literal("true");
            case 'f':
                out.type = JsonValue::Type::boolean;
                out.boolean = false;
                return literal("false");
            case 'n':
                out.type = JsonValue::Type::null;
                return literal("null");
            default:
                return number(out);
        }
    }

    bool object(JsonValue& out, int depth) {
        if (depth > max_depth) {
            return fail("nested too deeply");
        }
        out.type = JsonValue::Type::object;
        ++pos_;  // '{'
        skip_space();
        if (peek() == '}') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_space();
            if (peek() != '"') {
                return fail("expected a string key");
            }
            std::string key;
            const std::size_t key_pos = pos_;
            if (!string(key)) {
                return false;
            }
            if (out.find(key) != nullptr) {
                pos_ = key_pos;
                return fail(fmt::format("duplicate key \"{}\"", key));
            }
            skip_space();
            if (peek() != ':') {
                return fail("expected ':'");
            }
            ++pos_;
            skip_space();
            out.keys.push_back(std::move(key));
            out.values.emplace_back();
            if (!value(out.values.back(), depth)) {
                return false;
            }
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == '}') {
                ++pos_;
                return true;
            }
            return fail("expected ',' or '}'");
        }
    }

    bool array(JsonValue& out, int depth) {
        if (depth > max_depth) {
            return fail("nested too deeply");
        }
        out.type = JsonValue::Type::array;
        ++pos_;  // '['
        skip_space();
        if (peek() == ']') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_space();
            out.items.emplace_back();
            if (!value(out.items.back(), depth)) {
                return false;
            }
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == ']') {
                ++pos_;
                return true;
            }
            return fail("expected ',' or ']'");
        }
    }

    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

    bool digits() {
        if (!is_digit(peek())) {
            return fail("expected a digit");
        }
        while (is_digit(peek())) {
            ++pos_;
        }
        return true;
    }

    bool number(JsonValue& out) {
        const std::size_t start = pos_;
        if (peek() == '-') {
            ++pos_;
        }
        if (peek() == '0') {
            ++pos_;
            if (is_digit(peek())) {
                return fail("leading zero in a number");
            }
        } else if (!digits()) {
            return fail("unexpected character");
        }
        if (peek() == '.') {
            ++pos_;
            if (!digits()) {
                return false;
            }
        }
        if (peek() == 'e' || peek() == 'E') {
            ++pos_;
            if (peek() == '+' || peek() == '-') {
                ++pos_;
            }
            if (!digits()) {
                return false;
            }
        }
        out.type = JsonValue::Type::number;
        out.text = std::string(text_.substr(start, pos_ - start));
        return true;
    }

    bool hex4(unsigned& out) {
        if (text_.size() - pos_ < 4) {
            return fail("short \\u escape");
        }
        out = 0;
        for (int i = 0; i < 4; ++i) {
            char c = text_[pos_++];
            unsigned digit = 0;
            if (c >= '0' && c <= '9') {
                digit = static_cast<unsigned>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                digit = static_cast<unsigned>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                digit = static_cast<unsigned>(c - 'A' + 10);
            } else {
                --pos_;
                return fail("bad \\u escape");
            }
            out = out * 16 + digit;
        }
        return true;
    }

    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    bool escape(std::string& out) {
        char c = peek();
        ++pos_;
        switch (c) {
            case '"':
            case '\\':
            case '/':
                out += c;
                return true;
            case 'b':
                out += '\b';
                return true;
            case 'f':
                out += '\f';
                return true;
            case 'n':
                out += '\n';
                return true;
            case 'r':
                out += '\r';
                return true;
            case 't':
                out += '\t';
                return true;
            case 'u': {
                unsigned cp = 0;
                if (!hex4(cp)) {
                    return false;
                }
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail("lone low surrogate");
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned low = 0;
                    if (text_.substr(pos_, 2) != "\\u") {
                        return fail("lone high surrogate");
                    }
                    pos_ += 2;
                    if (!hex4(low)) {
                        return false;
                    }
                    if (low < 0xDC00 || low > 0xDFFF) {
                        return fail("lone high surrogate");
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                append_utf8(out, cp);
                return true;
            }
            default:
                --pos_;
                return fail("bad escape");
        }
    }

    bool string(std::string& out) {
        ++pos_;  // '"'
        for (;;) {
            if (at_end()) {
                return fail("unterminated string");
            }
            char c = text_[pos_];
            if (c == '"') {
                ++pos_;
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                return fail("control character in a string");
            }
            ++pos_;
            if (c == '\\') {
                if (!escape(out)) {
                    return false;
                }
            } else {
                out += c;
            }
        }
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::string error_;
};

}  // namespace

const JsonValue* JsonValue::find(std::string_view key) const {
    for (std::size_t i = 0; i < keys.size() && i < values.size(); ++i) {
        if (keys[i] == key) {
            return &values[i];
        }
    }
    return nullptr;
}

std::optional<std::uint64_t> JsonValue::as_uint() const {
    if (type != Type::number || text.empty()) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end) {
        return std::nullopt;  // a sign, a fraction, an exponent, or too large
    }
    return value;
}

std::optional<double> JsonValue::as_double() const {
    if (type != Type::number) {
        return std::nullopt;
    }
    double value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || !std::isfinite(value)) {
        return std::nullopt;
    }
    return value;
}

std::string parse_json(std::string_view text, JsonValue& out) {
    out = JsonValue{};
    return Parser(text).parse(out);
}

}  // namespace echobench
