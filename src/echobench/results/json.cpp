#include "echobench/results/json.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <iterator>
#include <utility>
#include <vector>

namespace echobench {
namespace {

using nlohmann::json;

// Deep enough for any document echobench writes (4 levels); the rule of
// echobench's own reader before nlohmann. nlohmann does not need it: its
// parser and its destructor use heap stacks, not recursion.
constexpr std::size_t max_depth = 64;

// A const char* that leaves, in *read_to, how far the parser has read: a
// SAX handler is told where it is only on a syntax error, and our errors
// name a byte.
class TrackedChars {
public:
    using iterator_category = std::input_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = const char&;

    TrackedChars(const char* at, const char** read_to) : at_(at), read_to_(read_to) {}
    reference operator*() const { return *at_; }
    TrackedChars& operator++() {
        *read_to_ = ++at_;
        return *this;
    }
    TrackedChars operator++(int) {
        TrackedChars before = *this;
        ++*this;
        return before;
    }
    bool operator==(const TrackedChars& other) const { return at_ == other.at_; }

private:
    const char* at_;
    const char** read_to_;
};

// Whether the character at text[at] follows an odd number of backslashes.
bool escaped(std::string_view text, std::size_t at) {
    std::size_t slashes = 0;
    while (slashes < at && text[at - slashes - 1] == '\\') {
        ++slashes;
    }
    return slashes % 2 == 1;
}

// nlohmann's message without "[json.exception.parse_error.101] " nor
// "parse error at line 1, column 9: ": we state the byte ourselves.
std::string_view reason_of(std::string_view what) {
    if (auto bracket = what.find("] "); what.starts_with("[json.exception.") && bracket != std::string_view::npos) {
        what.remove_prefix(bracket + 2);
    }
    if (auto colon = what.find(": "); what.starts_with("parse error") && colon != std::string_view::npos) {
        what.remove_prefix(colon + 2);
    }
    return what;
}

// Builds the document as nlohmann's own parser does, with our two rules.
// Not json::parse with a callback, which could apply them too: after each
// object in an array it scans the whole array for discarded values, so a
// day's timeline (86,400 objects) is quadratic: --merge of two such files
// took 7.3 s that way, 0.56 s this way.
class Builder {
public:
    Builder(std::string_view text, const char* const& read_to, json& root)
        : text_(text), read_to_(read_to), root_(root) {}

    bool null() { return add(nullptr); }
    bool boolean(bool value) { return add(value); }
    bool number_integer(json::number_integer_t value) { return add(value); }
    bool number_unsigned(json::number_unsigned_t value) { return add(value); }
    bool number_float(json::number_float_t value, const json::string_t& /*text*/) { return add(value); }
    bool string(json::string_t& value) { return add(std::move(value)); }
    bool binary(json::binary_t& value) { return add(json::binary(std::move(value))); }  // never in JSON text
    bool start_object(std::size_t /*size*/) { return open(json::object()); }
    bool start_array(std::size_t /*size*/) { return open(json::array()); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }

    bool key(json::string_t& name) {
        if (open_.back()->contains(name)) {
            // At the key's opening quote: back from its closing one (the
            // last byte read), past any escaped quote inside.
            const std::size_t end = offset();
            std::size_t at = end - 1;
            do {
                --at;
            } while (text_[at] != '"' || escaped(text_, at));
            return fail(at, fmt::format("duplicate key {}", text_.substr(at, end - at)));
        }
        key_ = std::move(name);
        return true;
    }

    bool parse_error(std::size_t position, const std::string& token, const json::exception& e) {
        // position counts the bytes read, the wrong one included. A number
        // too large for a double (1e999, out_of_range) is reported after it.
        const std::size_t at = e.id == 406 ? position - token.size() : position - 1;
        return fail(position == 0 ? 0 : at, reason_of(e.what()));
    }

    std::string error;  // "" or "at byte 17: ..."

private:
    std::size_t offset() const { return static_cast<std::size_t>(read_to_ - text_.data()); }

    bool fail(std::size_t at, std::string_view what) {
        error = fmt::format("at byte {}: {}", at, what);
        return false;
    }

    // Adds value where it belongs: the root, the open array, or the open
    // object under the key just read. Returns where it went.
    json* place(json value) {
        if (open_.empty()) {
            root_ = std::move(value);
            return &root_;
        }
        json& parent = *open_.back();
        if (parent.is_array()) {
            parent.push_back(std::move(value));
            return &parent.back();
        }
        return &(parent[key_] = std::move(value));
    }

    bool add(json value) {
        place(std::move(value));
        return true;
    }

    bool open(json container) {
        if (open_.size() >= max_depth) {
            return fail(offset() - 1, "nested too deeply");  // at the '{' or '['
        }
        // Safe to keep: a container is only added to while it is the last
        // one open, and its parent does not change meanwhile.
        open_.push_back(place(std::move(container)));
        return true;
    }

    bool close() {
        open_.pop_back();
        return true;
    }

    std::string_view text_;
    const char* const& read_to_;  // how far the parser has read
    json& root_;
    std::vector<json*> open_;  // the arrays and objects being read, outermost first
    std::string key_;          // the open object's key whose value comes next
};

}  // namespace

std::string parse_json(std::string_view text, nlohmann::json& out) {
    const char* read_to = text.data();
    json root;
    Builder builder(text, read_to, root);
    const char* end = text.data() + text.size();
    if (!json::sax_parse(TrackedChars(text.data(), &read_to), TrackedChars(end, &read_to), &builder)) {
        return builder.error;
    }
    out = std::move(root);
    return {};
}

std::optional<std::uint64_t> json_uint(const nlohmann::json& value) {
    // nlohmann keeps a number as unsigned only when it has no sign, fraction
    // or exponent and fits in 64 bits; 1.5, -1, 1e2 and 2^64 are not.
    if (!value.is_number_unsigned()) {
        return std::nullopt;
    }
    return value.get<std::uint64_t>();
}

std::optional<double> json_double(const nlohmann::json& value) {
    // Always finite: the parser refuses numbers a double cannot hold.
    if (!value.is_number()) {
        return std::nullopt;
    }
    return value.get<double>();
}

}  // namespace echobench
