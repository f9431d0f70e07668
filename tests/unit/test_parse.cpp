#include "doctest_include.h"

#include "echod/parse.h"

#include <fmt/format.h>

#include <limits>

using namespace echod;

namespace {

std::uint64_t ok(const Parsed<std::uint64_t>& p) {
    REQUIRE(std::holds_alternative<std::uint64_t>(p));
    return std::get<std::uint64_t>(p);
}

std::string error(const auto& p) {
    REQUIRE(std::holds_alternative<ParseError>(p));
    return std::get<ParseError>(p).reason;
}

}  // namespace

TEST_CASE("parse_uint") {
    CHECK(ok(parse_uint("0", 0, 10)) == 0);
    CHECK(ok(parse_uint("10", 0, 10)) == 10);
    CHECK(ok(parse_uint("007", 0, 10)) == 7);
    CHECK(error(parse_uint("11", 0, 10)) == "11 is out of range 0..10");
    CHECK(error(parse_uint("0", 1, 10)) == "0 is out of range 1..10");
    CHECK(error(parse_uint("99999999999999999999999", 0, 10)) == "99999999999999999999999 is out of range 0..10");
    for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "1.0", "1e3"}) {
        CAPTURE(bad);
        CHECK(error(parse_uint(bad, 0, 100)) == fmt::format("'{}' is not a whole number", bad));
    }
}

TEST_CASE("parse_size: bytes and binary suffixes") {
    constexpr std::uint64_t big = std::numeric_limits<std::uint64_t>::max();
    CHECK(ok(parse_size("16", 0, big)) == 16);
    CHECK(ok(parse_size("1K", 0, big)) == 1024);
    CHECK(ok(parse_size("64KiB", 0, big)) == 65536);
    CHECK(ok(parse_size("2M", 0, big)) == 2 * 1048576);
    CHECK(ok(parse_size("256MiB", 0, big)) == 256 * 1048576);
    CHECK(ok(parse_size("0", 0, big)) == 0);
}

TEST_CASE("parse_size: anything else is an error") {
    for (const char* bad :
         {"", "k", "K", "1k", "1KB", "1kb", "1G", "1GiB", "1.5K", "1 K", "-1", "1B", "1Ki", "KiB1", "1MB"}) {
        CAPTURE(bad);
        CHECK(error(parse_size(bad, 0, 1 << 30)) ==
              fmt::format("'{}' is not a size (a whole number of bytes, optionally with K, KiB, M or MiB)", bad));
    }
}

TEST_CASE("parse_size: range is checked after the suffix, and shown in sizes") {
    CHECK(error(parse_size("15", 16, 256 << 20)) == "15 is out of range 16B..256MiB");
    CHECK(error(parse_size("257M", 16, 256 << 20)) == "257M is out of range 16B..256MiB");
    CHECK(ok(parse_size("256M", 16, 256 << 20)) == 256 << 20);
    CHECK(error(parse_size("18446744073709551615M", 0, 1 << 30)) ==
          "18446744073709551615M is out of range 0B..1024MiB");
    CHECK(error(parse_size("99999999999999999999999", 0, 10)) == "99999999999999999999999 is out of range 0B..10B");
}

TEST_CASE("parse_seconds") {
    auto seconds = [](const char* text) {
        auto p = parse_seconds(text, 0, 3600);
        REQUIRE(std::holds_alternative<double>(p));
        return std::get<double>(p);
    };
    CHECK(seconds("10") == doctest::Approx(10));
    CHECK(seconds("0.5") == doctest::Approx(0.5));
    CHECK(seconds(".25") == doctest::Approx(0.25));
    CHECK(seconds("3.") == doctest::Approx(3));
    CHECK(seconds("0") == doctest::Approx(0));
    for (const char* bad : {"", ".", "-1", "1e3", "inf", "nan", "1.2.3", "1s", " 1"}) {
        CAPTURE(bad);
        CHECK(error(parse_seconds(bad, 0, 3600)) == fmt::format("'{}' is not a number of seconds", bad));
    }
    CHECK(error(parse_seconds("3601", 0, 3600)) == "3601 is out of range 0..3600");
    CHECK(error(parse_seconds("0.5", 1, 3600)) == "0.5 is out of range 1..3600");
}

TEST_CASE("printable escapes what would break a one-line message") {
    CHECK(printable("plain text-1.5") == "plain text-1.5");
    CHECK(printable("a\nb\tc") == "a\\nb\\tc");
    CHECK(printable("\\") == "\\\\");
    CHECK(printable(std::string_view("\x00\x1f\x7f\xc5", 4)) == "\\x00\\x1f\\x7f\\xc5");
}

TEST_CASE("format_size picks the largest exact unit") {
    CHECK(format_size(0) == "0B");
    CHECK(format_size(16) == "16B");
    CHECK(format_size(1000) == "1000B");
    CHECK(format_size(1024) == "1KiB");
    CHECK(format_size(65536) == "64KiB");
    CHECK(format_size(1536 * 1024) == "1536KiB");
    CHECK(format_size(256 * 1048576) == "256MiB");
}
