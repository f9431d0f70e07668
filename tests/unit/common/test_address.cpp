// Addresses as both programs show and take them.
#include "doctest_include.h"

#include "common/address.h"

#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <string>

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
    CHECK(common::format_address(reinterpret_cast<sockaddr*>(&unix_address)) == "unix:(unnamed)");
    CHECK(common::port_of(reinterpret_cast<sockaddr*>(&unix_address)) == 0);

    sockaddr_storage other{};
    other.ss_family = AF_PACKET;
    CHECK(common::format_address(reinterpret_cast<sockaddr*>(&other)) == "?");
}

TEST_CASE("unix:PATH: the path, a socket address, back to text") {
    CHECK(common::unix_path("unix:/run/echod.sock") == "/run/echod.sock");
    CHECK(common::unix_path("unix:") == "");
    CHECK(common::unix_path("unix:relative/x") == "relative/x");
    CHECK_FALSE(common::unix_path("127.0.0.1"));
    CHECK_FALSE(common::unix_path("/run/echod.sock"));
    CHECK_FALSE(common::unix_path("UNIX:/x"));

    sockaddr_storage a{};
    REQUIRE(common::make_address("unix:/tmp/e.sock", 7007, a));
    CHECK(a.ss_family == AF_UNIX);
    CHECK(std::string(reinterpret_cast<sockaddr_un*>(&a)->sun_path) == "/tmp/e.sock");
    CHECK(common::address_length(a) == offsetof(sockaddr_un, sun_path) + 12);
    CHECK(common::port_of(reinterpret_cast<sockaddr*>(&a)) == 0);
    CHECK(common::format_address(reinterpret_cast<sockaddr*>(&a)) == "unix:/tmp/e.sock");
    CHECK(common::format_address("unix:/tmp/e.sock", 7007) == "unix:/tmp/e.sock");

    CHECK_FALSE(common::make_address("unix:", 0, a));
    std::string longest = "unix:/" + std::string(common::max_unix_path - 1, 'x');
    CHECK(common::make_address(longest, 0, a));
    CHECK(common::format_address(reinterpret_cast<sockaddr*>(&a)) == longest);
    CHECK(common::address_length(a) == sizeof(sockaddr_un));
    CHECK_FALSE(common::make_address(longest + "x", 0, a));

    SUBCASE("the abstract namespace, as socket activation may hand it over") {
        sockaddr_un abstract{};
        abstract.sun_family = AF_UNIX;
        std::memcpy(abstract.sun_path, "\0echod", 6);
        CHECK(common::format_address(reinterpret_cast<sockaddr*>(&abstract)) == "unix:@echod");
    }
}

TEST_CASE("check_address: what --listen and -H accept, and why not") {
    CHECK(common::check_address("127.0.0.1") == "");
    CHECK(common::check_address("::") == "");
    CHECK(common::check_address("unix:/run/echod.sock") == "");
    CHECK(common::check_address("unix:echod.sock") == "");
    CHECK(common::check_address("localhost") == "'localhost' is not an IPv4 or IPv6 address literal");
    CHECK(common::check_address("") == "'' is not an IPv4 or IPv6 address literal");
    CHECK(common::check_address("/run/echod.sock") ==
          "'/run/echod.sock' is not an IPv4 or IPv6 address literal (a Unix socket is unix:/run/echod.sock)");
    CHECK(common::check_address("unix:") == "'unix:' needs a path (unix:PATH)");
    CHECK(common::check_address(std::string_view("unix:/a\0b", 9)) == "a Unix socket path cannot hold a NUL byte");
    std::string path = "/" + std::string(common::max_unix_path - 1, 'x');
    CHECK(common::check_address("unix:" + path) == "");
    CHECK(common::check_address("unix:" + path + "y") ==
          "'unix:/" + std::string(54, 'x') +
              "...': the path is 108 bytes, more than the 107 a Unix socket address holds");
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
    CHECK(error("unix:/tmp/m.sock:9100") == "'unix:/tmp/m.sock:9100'" + shape);  // a Unix socket has no port
    CHECK(error("127.0.0.1:") == "port: '' is not a whole number");
    CHECK(error("127.0.0.1:65536") == "port: 65536 is out of range 0..65535");
    CHECK(error("[::1]:x") == "port: 'x' is not a whole number");
}
