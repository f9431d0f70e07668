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
