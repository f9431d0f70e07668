// The JSON reader behind --merge and --compare: nlohmann-json's grammar, our
// error wording, and the two rules we add (no duplicate keys, depth 64).
#include "doctest_include.h"

#include "echobench/results/json.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace {

std::string json_error(std::string_view text) {
    nlohmann::json v;
    return echobench::parse_json(text, v);
}

}  // namespace

TEST_CASE("JSON reader: a document and its numbers") {
    nlohmann::json v;
    REQUIRE(echobench::parse_json(
                R"( {"a": [1, -2, 2.5, 1e2, 18446744073709551615, 18446744073709551616], "b": "\u00e9"} )", v)
                .empty());
    const nlohmann::json& a = v.at("a");
    CHECK(echobench::json_uint(a[0]) == 1);
    CHECK(echobench::json_uint(a[1]) == std::nullopt);  // a sign
    CHECK(echobench::json_uint(a[2]) == std::nullopt);  // a fraction
    CHECK(echobench::json_uint(a[3]) == std::nullopt);  // an exponent
    CHECK(echobench::json_uint(a[4]) == UINT64_MAX);
    CHECK(echobench::json_uint(a[5]) == std::nullopt);  // too large
    CHECK(echobench::json_double(a[0]) == 1.0);         // a whole number is a number too
    CHECK(echobench::json_double(a[1]) == -2.0);
    CHECK(echobench::json_double(a[2]) == 2.5);
    CHECK(echobench::json_double(v.at("b")) == std::nullopt);
    CHECK(echobench::json_uint(v.at("b")) == std::nullopt);
    CHECK(v.at("b") == "\xc3\xa9");
}

TEST_CASE("JSON reader: errors name the byte and what was wrong") {
    // nlohmann's wording, without its "[json.exception...] parse error at
    // line 1, column 9: ": the byte counts from 0, at the byte that was wrong.
    CHECK(json_error("{\"a\": 1,}") ==
          "at byte 8: syntax error while parsing object key - unexpected '}'; expected string literal");
    CHECK(json_error("").starts_with("at byte 0: "));
    CHECK(json_error("[1]]") == "at byte 3: syntax error while parsing value - unexpected ']'; expected end of input");
    CHECK(json_error("[1e999]") == "at byte 1: number overflow parsing '1e999'");
    for (const char* bad :
         {" ", "{", "[1,]", "{\"a\" 1}", "{a: 1}", "01", "NaN", "\"\\ud800\"", "\"a\tb\"", "// c\n1", "'a'"}) {
        CAPTURE(bad);
        std::string error = json_error(bad);
        CHECK(error.starts_with("at byte "));
        CHECK(error.find("[json.exception") == std::string::npos);
    }
}

TEST_CASE("JSON reader: duplicate keys and deep nesting are refused") {
    // nlohmann would keep the last of two equal keys; a file that says two
    // things is refused, at the second key.
    CHECK(json_error(R"({"a": 1, "a": 2})") == R"(at byte 9: duplicate key "a")");
    CHECK(json_error(R"({"x": {"a\"\\": 1, "a\"\\": 2}})") == R"(at byte 19: duplicate key "a\"\\")");
    CHECK(json_error(R"({"x": {"a": 1}, "y": {"a": 1}, "a": [{"a": 1}, {"a": 2}]})").empty());
    CHECK(json_error(R"({"a": 1, "\u0061": 2})") == R"(at byte 9: duplicate key "\u0061")");

    std::string ok(64, '[');
    ok += std::string(64, ']');
    CHECK(json_error(ok).empty());
    std::string deep = std::string(64, '[') + "{\"a\": 1}" + std::string(64, ']');
    CHECK(json_error(deep) == "at byte 64: nested too deeply");
}
