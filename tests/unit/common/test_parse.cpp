#include "doctest_include.h"

#include "common/parse.h"

#include <fmt/format.h>

#include <limits>

using namespace common;

namespace {

std::uint64_t ok(const common::Parsed<std::uint64_t>& p) {
    REQUIRE(std::holds_alternative<std::uint64_t>(p));
    return std::get<std::uint64_t>(p);
}

std::string error(const auto& p) {
    REQUIRE(std::holds_alternative<common::ParseError>(p));
    return std::get<common::ParseError>(p).reason;
}

}  // namespace

TEST_CASE("parse_uint") {
    CHECK(ok(common::parse_uint("0", 0, 10)) == 0);
    CHECK(ok(common::parse_uint("10", 0, 10)) == 10);
    CHECK(ok(common::parse_uint("007", 0, 10)) == 7);
    CHECK(error(common::parse_uint("11", 0, 10)) == "11 is out of range 0..10");
    CHECK(error(common::parse_uint("0", 1, 10)) == "0 is out of range 1..10");
    CHECK(error(common::parse_uint("99999999999999999999999", 0, 10)) ==
          "99999999999999999999999 is out of range 0..10");
    for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "1.0", "1e3"}) {
        CAPTURE(bad);
        CHECK(error(common::parse_uint(bad, 0, 100)) == fmt::format("'{}' is not a whole number", bad));
    }
}

TEST_CASE("parse_size: bytes and binary suffixes") {
    constexpr std::uint64_t big = std::numeric_limits<std::uint64_t>::max();
    CHECK(ok(common::parse_size("16", 0, big)) == 16);
    CHECK(ok(common::parse_size("1K", 0, big)) == 1024);
    CHECK(ok(common::parse_size("64KiB", 0, big)) == 65536);
    CHECK(ok(common::parse_size("2M", 0, big)) == 2 * 1048576);
    CHECK(ok(common::parse_size("256MiB", 0, big)) == 256 * 1048576);
    CHECK(ok(common::parse_size("0", 0, big)) == 0);
}

TEST_CASE("parse_size: anything else is an error") {
    for (const char* bad :
         {"", "k", "K", "1k", "1KB", "1kb", "1G", "1GiB", "1.5K", "1 K", "-1", "1B", "1Ki", "KiB1", "1MB"}) {
        CAPTURE(bad);
        CHECK(error(common::parse_size(bad, 0, 1 << 30)) ==
              fmt::format("'{}' is not a size (a whole number of bytes, optionally with K, KiB, M or MiB)", bad));
    }
}

TEST_CASE("parse_size: range is checked after the suffix, and shown in sizes") {
    CHECK(error(common::parse_size("15", 16, 256 << 20)) == "15 is out of range 16B..256MiB");
    CHECK(error(common::parse_size("257M", 16, 256 << 20)) == "257M is out of range 16B..256MiB");
    CHECK(ok(common::parse_size("256M", 16, 256 << 20)) == 256 << 20);
    CHECK(error(common::parse_size("18446744073709551615M", 0, 1 << 30)) ==
          "18446744073709551615M is out of range 0B..1024MiB");
    CHECK(error(common::parse_size("99999999999999999999999", 0, 10)) ==
          "99999999999999999999999 is out of range 0B..10B");
}

TEST_CASE("parse_seconds") {
    auto seconds = [](const char* text) {
        auto p = common::parse_seconds(text, 0, 3600);
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
        CHECK(error(common::parse_seconds(bad, 0, 3600)) == fmt::format("'{}' is not a number of seconds", bad));
    }
    CHECK(error(common::parse_seconds("3601", 0, 3600)) == "3601 is out of range 0..3600");
    CHECK(error(common::parse_seconds("0.5", 1, 3600)) == "0.5 is out of range 1..3600");
}

TEST_CASE("printable escapes what would break a one-line message") {
    CHECK(common::printable("plain text-1.5") == "plain text-1.5");
    CHECK(common::printable("a\nb\tc") == "a\\nb\\tc");
    CHECK(common::printable("\\") == "\\\\");
    CHECK(common::printable(std::string_view("\x00\x1f\x7f\xc5", 4)) == "\\x00\\x1f\\x7f\\xc5");
}

TEST_CASE("printable quotes at most max bytes of a value, then \"...\"") {
    CHECK(common::printable(std::string(60, '9')) == std::string(60, '9'));
    CHECK(common::printable(std::string(1000000, '9')) == std::string(60, '9') + "...");
    CHECK(common::printable("abcdef", 3) == "abc...");
    CHECK(common::printable(std::string(5000, '/'), common::max_quoted_path) == std::string(4096, '/') + "...");
    CHECK(common::parse_uint(std::string(1000000, '9'), 1, 10).index() == 1);
    CHECK(std::get<common::ParseError>(common::parse_uint(std::string(100, '9'), 1, 10)).reason ==
          std::string(60, '9') + "... is out of range 1..10");
}

TEST_CASE("format_size picks the largest exact unit") {
    CHECK(common::format_size(0) == "0B");
    CHECK(common::format_size(16) == "16B");
    CHECK(common::format_size(1000) == "1000B");
    CHECK(common::format_size(1024) == "1KiB");
    CHECK(common::format_size(65536) == "64KiB");
    CHECK(common::format_size(1536 * 1024) == "1536KiB");
    CHECK(common::format_size(256 * 1048576) == "256MiB");
}
