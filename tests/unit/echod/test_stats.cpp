#include "doctest_include.h"

#include "echod/stats.h"

#include <sstream>
#include <string>

using echod::Stats;

TEST_CASE("the stats line has gauges, totals, and rates when an interval is given") {
    Stats before;
    before.accepted = 10;
    before.bytes_in = 1000;
    before.bytes_out = 1000;
    Stats now = before;
    now.connections = 3;
    now.paused = 1;
    now.rings_in_use = 2;
    now.rings_pooled = 5;
    now.accepted = 30;
    now.bytes_in = 5000;
    now.bytes_out = 4000;

    std::string line = echod::format_stats_line(now, before, 2.0);
    CHECK(line.starts_with("stats: 3 connections (1 paused), 2 rings in use, 5 pooled; 30 accepted"));
    CHECK(line.find("5000 bytes in, 4000 bytes out") != std::string::npos);
    CHECK(line.find("last 2.0 s: 10.0 accepts/s, 2000 B/s in, 1500 B/s out") != std::string::npos);

    CHECK(echod::format_stats_line(now, before, 0).find("last") == std::string::npos);
}

TEST_CASE("Prometheus text format: HELP, TYPE, then the sample, for every metric") {
    Stats s;
    s.connections = 7;
    s.bytes_in = 123456789012;
    s.refused = 2;
    std::string text = echod::format_prometheus(s);
    CHECK(text.find("# HELP echod_connections Open connections.\n# TYPE echod_connections gauge\n"
                    "echod_connections 7\n") != std::string::npos);
    CHECK(text.find("# TYPE echod_received_bytes_total counter\necho"
                    "d_received_bytes_total 123456789012\n") != std::string::npos);
    CHECK(text.find("echod_connections_refused_total 2\n") != std::string::npos);

    // Every sample line names an echod_ metric declared just above it (with
    // labels for the faults, one sample per fault).
    std::istringstream lines(text);
    std::string line;
    std::string declared;
    int samples = 0;
    while (std::getline(lines, line)) {
        if (line.starts_with("# TYPE ")) {
            declared = line.substr(7, line.find(' ', 7) - 7);
        } else if (!line.starts_with("# HELP ")) {
            CAPTURE(line);
            REQUIRE(line.starts_with("echod_"));
            CHECK(line.substr(0, line.find_first_of(" {")) == declared);
            ++samples;
        }
    }
    CHECK(samples == 20 + echod::fault_kinds);
    CHECK(text.ends_with("\n"));
}

TEST_CASE("PROXY header errors: a counter in the metrics, and a part of the stats line once any is counted") {
    Stats s;
    CHECK(echod::format_stats_line(s, s, 0).find("PROXY") == std::string::npos);
    CHECK(echod::format_prometheus(s).find("echod_proxy_errors_total 0\n") != std::string::npos);
    s.proxy_errors = 4;
    CHECK(echod::format_prometheus(s).find("# TYPE echod_proxy_errors_total counter\necho"
                                           "d_proxy_errors_total 4\n") != std::string::npos);
    CHECK(echod::format_stats_line(s, s, 0).find("; 4 PROXY header errors") != std::string::npos);
}

TEST_CASE("faults: a counter per fault in the metrics, and a part of the stats line once any is counted") {
    Stats s;
    CHECK(echod::format_stats_line(s, s, 0).find("faults") == std::string::npos);
    CHECK(echod::format_prometheus(s).find("echod_faults_total{fault=\"close\"} 0\n") != std::string::npos);

    s.fault_connections = 3;
    s.faults[static_cast<std::size_t>(echod::Fault::close)] = 2;
    s.faults[static_cast<std::size_t>(echod::Fault::drop)] = 9;
    std::string text = echod::format_prometheus(s);
    CHECK(text.find("echod_fault_connections_total 3\n") != std::string::npos);
    CHECK(text.find("echod_faults_total{fault=\"close\"} 2\n") != std::string::npos);
    CHECK(text.find("echod_faults_total{fault=\"drop\"} 9\n") != std::string::npos);
    CHECK(echod::format_stats_line(s, s, 0).find(
              "; faults: 3 connections, slice 0, delay 0, rate 0, close 2, reset 0, stall 0, drop 9") !=
          std::string::npos);
}

TEST_CASE("the ring budget and its queue: in the metrics and in the stats line") {
    Stats s;
    s.ring_budget = 8 * 1048576;
    CHECK(echod::format_prometheus(s).find("echod_buffer_memory_budget_bytes 8388608\n") != std::string::npos);
    CHECK(echod::format_prometheus(s).find("echod_connections_waiting_for_ring 0\n") != std::string::npos);
    CHECK(echod::format_stats_line(s, s, 0).find("; ring budget 8MiB, 0 waiting for a ring") != std::string::npos);
    s.rings_waiting = 42;
    CHECK(echod::format_stats_line(s, s, 0).find("; ring budget 8MiB, 42 waiting for a ring") != std::string::npos);
}
