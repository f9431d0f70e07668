// Addresses as both programs show and take them.
#include "doctest_include.h"

#include "common/address.h"

#include <sys/un.h>

TEST_CASE("make_address and format_address: literals round-trip, names do not resolve") {
    sockaddr_storage a{};
    REQUIRE(common::make_address("127.0.0.1", 7007, a));
    CHECK(a.ss_family == AF_INET);
    CHECK(common::port_of(reinterpret_cast<sockaddr*>(&a)) == 7007);
    CHECK(common::format_address(reinterpret_cast<sockaddr*>(&a)) == "127.0.0.1:7007");

    REQUIRE(common::make_address("::1", 0, a));
    CHECK(a.ss_family == AF_INET6);
    CHECK(common::port_of(reinterpret_cast<sockaddr*>(&a)) == 0);
    CHECK(common::format_address(reinterpret_cast<sockaddr*>(&a)) == "[::1]:0");

    CHECK_FALSE(common::make_address("localhost", 1, a));
    CHECK_FALSE(common::make_address("", 1, a));
    CHECK_FALSE(common::make_address("1.2.3.4:5", 1, a));

    sockaddr_un unix_address{};
    unix_address.sun_family = AF_UNIX;
    CHECK(common::format_address(reinterpret_cast<sockaddr*>(&unix_address)) == "?");
    CHECK(common::port_of(reinterpret_cast<sockaddr*>(&unix_address)) == 0);
}

TEST_CASE("format_address of a literal and a port: IPv6 in brackets") {
    CHECK(common::format_address("0.0.0.0", 65535) == "0.0.0.0:65535");
    CHECK(common::format_address("::", 7) == "[::]:7");
    CHECK(common::format_address("fe80::1", 80) == "[fe80::1]:80");
}

TEST_CASE("parse_address_and_port: IPv4 as is, IPv6 in brackets, a port 0..65535") {
    auto ok = [](std::string_view text) {
        auto parsed = common::parse_address_and_port(text);
        REQUIRE(std::holds_alternative<common::AddressAndPort>(parsed));
        return std::get<common::AddressAndPort>(parsed);
    };
    auto error = [](std::string_view text) {
        auto parsed = common::parse_address_and_port(text);
        REQUIRE(std::holds_alternative<common::ParseError>(parsed));
        return std::get<common::ParseError>(parsed).reason;
    };
    CHECK(ok("127.0.0.1:9100").literal == "127.0.0.1");
    CHECK(ok("127.0.0.1:9100").port == 9100);
    CHECK(ok("0.0.0.0:0").port == 0);
    CHECK(ok("[::1]:65535").literal == "::1");
    CHECK(ok("[::1]:65535").port == 65535);
    CHECK(ok("[::]:1").literal == "::");

    std::string shape = " is not ADDR:PORT (an IPv4 literal or a [bracketed] IPv6 one, and a port)";
    CHECK(error("127.0.0.1") == "'127.0.0.1'" + shape);
    CHECK(error("::1:9100") == "'::1:9100'" + shape);
    CHECK(error("[127.0.0.1]:9100") == "'[127.0.0.1]:9100'" + shape);
    CHECK(error("localhost:9100") == "'localhost:9100'" + shape);
    CHECK(error(":9100") == "':9100'" + shape);
    CHECK(error("[::1:9100") == "'[::1:9100'" + shape);
    CHECK(error("") == "''" + shape);
    CHECK(error("127.0.0.1:") == "port: '' is not a whole number");
    CHECK(error("127.0.0.1:65536") == "port: 65536 is out of range 0..65535");
    CHECK(error("[::1]:x") == "port: 'x' is not a whole number");
}
