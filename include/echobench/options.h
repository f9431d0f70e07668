// echobench's command line: argv in, a BenchConfig (or help, version, or a
// usage error) out. A pure function like echod's parse_command_line: it
// prints nothing and connects nowhere, so every option is unit-tested.
#pragma once

#include "common/parse.h"
#include "echobench/results/find_rate.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace echobench {

struct BenchConfig {
    enum class Mode {
        load,         // the benchmark: many connections, a measured window
        ping,         // one connection, one message per interval, one line per reply
        interactive,  // stdin to the server, echoes to stdout
        merge,        // no network: combine --histogram-out files into one report
        compare,      // no network: --histogram-out files side by side in one --report page
        find_rate,    // open-loop steps searching for the highest rate that meets --slo
    };
    Mode mode = Mode::load;
    std::string host = "127.0.0.1";        // IPv4 or IPv6 address literal, or "unix:PATH"
    std::uint16_t port = 7007;             // 1..65535; unused for unix:PATH
    std::uint32_t connections = 50;        // concurrent connections
    std::size_t size = 64;                 // bytes per message
    std::uint32_t pipeline = 1;            // messages in flight per connection
    double duration_s = 10;                // measured window, after warm-up
    std::uint64_t messages = 0;            // -n: stop after this many instead; 0: use duration_s
    double rate = 0;                       // open loop: messages/s in total; 0: closed loop
    double warmup_s = 1;                   // traffic before measuring, not counted
    bool verify = true;                    // check every echoed byte
    bool json = false;                     // one JSON object instead of the table
    std::uint32_t threads = 1;             // event loops (threads) sharing the connections
    double timeout_s = 5;                  // a connection with messages out and no byte back this long is dead
    double connect_rate = 10000;           // new connections per second while ramping up
    double interval_s = 1;                 // --ping: time between messages
    std::uint64_t count = 0;               // --ping: stop after this many replies; 0: until Ctrl-C
    std::string histogram_out;             // load or --merge: also write the report with the full histogram here
    std::string report;                    // load, --merge or --compare: write an HTML page of the run(s) here
    std::vector<std::string> input_files;  // --merge or --compare: the files, in order

    // Churn: each connection closes after this many echoed messages and a
    // new one takes its place; 0 keeps connections.
    std::uint64_t messages_per_connection = 0;
    Slo slo;                     // --find-rate: what a step must meet
    double step_duration_s = 5;  // --find-rate: the measured window of each step
};

// Limits, shared with the help text and the tests.
inline constexpr std::uint32_t max_connections = 100000;
inline constexpr std::size_t max_message_size = 64 * common::MiB;
inline constexpr std::uint32_t max_pipeline = 1024;
inline constexpr std::uint32_t max_threads = 256;
// connections x pipeline x size: the send buffers, all allocated up front.
inline constexpr std::uint64_t max_send_buffers = std::uint64_t{1} << 30;
// --find-rate: where the search starts without --rate, the most steps it
// takes, and the highest --slo bound (an hour).
inline constexpr double default_start_rate = 1000;
inline constexpr std::uint32_t max_search_steps = 30;
inline constexpr std::uint64_t max_slo_us = 3600ULL * 1000 * 1000;

struct BenchCommandLine {
    enum class Action {
        run,          // run config
        help,         // print bench_help_text() to stdout, exit 0
        version,      // print the version to stdout, exit 0
        usage_error,  // print error to stderr, exit 2
    };
    Action action = Action::run;
    BenchConfig config;
    std::string error;  // the whole line for usage_error, without "\n"
};

// args[0] is the program name, as in main's argv.
BenchCommandLine parse_bench_command_line(std::span<const char* const> args);

// The text of --help, with every option and its default.
std::string bench_help_text();

}  // namespace echobench
