#include "doctest_include.h"

#include "common/getopt_args.h"

TEST_CASE("usage_what takes back what usage_line framed") {
    std::string line = common::usage_line("echod", "--backlog: 0 is out of range 1..65535");
    CHECK(line == "echod: --backlog: 0 is out of range 1..65535 (see 'echod --help')");
    CHECK(common::usage_what("echod", line) == "--backlog: 0 is out of range 1..65535");
    // Another program's, or another shape: whole.
    CHECK(common::usage_what("echobench", line) == line);
    CHECK(common::usage_what("echod", "echod: no hint") == "echod: no hint");
    CHECK(common::usage_what("echod", "") == "");
}
