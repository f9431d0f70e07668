#include "doctest_include.h"

#include "echod/worker_stats.h"

#include <fcntl.h>
#include <unistd.h>

using echod::Stats;
using echod::WorkerTotals;

namespace {

Stats worker_stats(std::uint64_t accepted, std::uint64_t bytes, std::uint64_t connections) {
    Stats s;
    s.accepted = accepted;
    s.bytes_in = s.bytes_out = bytes;
    s.connections = connections;
    s.ring_bytes = 65536;
    s.proxy_errors = accepted / 2;
    return s;
}

}  // namespace

TEST_CASE("the totals sum the latest report of each worker") {
    WorkerTotals totals(2);
    totals.update(0, worker_stats(3, 300, 1));
    totals.update(1, worker_stats(4, 400, 2));
    totals.update(0, worker_stats(5, 500, 0));  // replaces, not adds
    Stats t = totals.total();
    CHECK(t.accepted == 9);
    CHECK(t.bytes_in == 900);
    CHECK(t.proxy_errors == 2 + 2);
    CHECK(t.connections == 2);
    CHECK(t.ring_bytes == 65536);
}

TEST_CASE("a worker that dies keeps its counters, not its gauges") {
    WorkerTotals totals(2);
    totals.update(0, worker_stats(3, 300, 1));
    totals.update(1, worker_stats(4, 400, 2));
    totals.retire(1);
    CHECK(totals.total().accepted == 7);
    CHECK(totals.total().connections == 1);
    totals.update(1, worker_stats(1, 10, 1));  // its successor, from zero
    CHECK(totals.total().accepted == 8);
    CHECK(totals.total().bytes_in == 710);
    CHECK(totals.total().connections == 2);
}

TEST_CASE("reports go through a pipe whole") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_NONBLOCK) == 0);
    echod::WorkerReport report;
    report.pid = 42;
    report.asked = 1;
    report.stats = worker_stats(7, 70, 0);
    CHECK(echod::send_worker_report(fds[1], report));
    CHECK(echod::send_worker_report(fds[1], report));
    std::vector<echod::WorkerReport> got;
    echod::receive_worker_reports(fds[0], got);
    REQUIRE(got.size() == 2);
    CHECK(got[1].pid == 42);
    CHECK(got[1].asked == 1);
    CHECK(got[1].stats.accepted == 7);
    ::close(fds[0]);
    ::close(fds[1]);
}
