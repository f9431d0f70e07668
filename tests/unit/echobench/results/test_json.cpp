// The JSON reader behind --merge and --compare.
#include "doctest_include.h"

#include "echobench/results/json.h"

#include <string>
#include <string_view>

namespace {

std::string json_error(std::string_view text) {
    echobench::JsonValue v;
    return echobench::parse_json(text, v);
}

}  // namespace

TEST_CASE("JSON reader: the grammar, strictly") {
    using Type = echobench::JsonValue::Type;
    echobench::JsonValue v;
    REQUIRE(echobench::parse_json(
                R"( {"a": [1, -2.5e3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {}} )", v)
                .empty());
    REQUIRE(v.type == Type::object);
    const echobench::JsonValue* a = v.find("a");
    REQUIRE(a != nullptr);
    REQUIRE(a->items.size() == 6);
    CHECK(a->items[0].as_uint() == 1);
    CHECK(a->items[1].as_uint() == std::nullopt);
    CHECK(a->items[1].as_double() == -2500.0);
    CHECK(a->items[2].boolean);
    CHECK(a->items[3].type == Type::boolean);
    CHECK(a->items[4].type == Type::null);
    CHECK(a->items[5].text == "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(v.find("b")->type == Type::object);
    CHECK(v.find("c") == nullptr);
    REQUIRE(echobench::parse_json("18446744073709551615", v).empty());
    CHECK(v.as_uint() == UINT64_MAX);
    REQUIRE(echobench::parse_json("18446744073709551616", v).empty());
    CHECK(v.as_uint() == std::nullopt);
    REQUIRE(echobench::parse_json("1e999", v).empty());
    CHECK(v.as_double() == std::nullopt);  // not finite

    for (const char* bad : {"",          " ",           "{",
                            "}",         "[1,]",        "{\"a\":1,}",
                            "{\"a\" 1}", "{a: 1}",      "{\"a\":1}x",
                            "01",        "1.",          ".5",
                            "-",         "+1",          "1e",
                            "NaN",       "Infinity",    "tru",
                            "nul",       "\"abc",       "\"\\x\"",
                            "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
                            "\"a\tb\"",  "[1 2]",       "{\"a\":1,\"a\":2}",
                            "// c\n1",   "'a'",         "[1]]"}) {
        CAPTURE(bad);
        CHECK(json_error(bad).starts_with("at byte "));
    }
    CHECK(json_error("{\"a\": 1,}") == "at byte 8: expected a string key");
    std::string deep(65, '[');
    deep += std::string(65, ']');
    CHECK(json_error(deep).find("nested too deeply") != std::string::npos);
    std::string ok(64, '[');
    ok += std::string(64, ']');
    CHECK(json_error(ok).empty());
}

// --- --histogram-out documents and --merge ---------------------------------------
