// libFuzzer target: echod's and echobench's command-line parsers.
//
// The input is split at NUL bytes into argv. Whatever it holds, parsing must
// not crash, and its answer must be consistent: a usage error is one line
// naming the program with the --help hint, and a run's config is within
// range. Config files are not read: the reader is a stub.
#include "echobench/options.h"
#include "echod/options.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> words(1, "echod");
    words.emplace_back();
    for (std::size_t i = 0; i < size && words.size() < 64; ++i) {
        if (data[i] == 0) {
            words.emplace_back();
        } else {
            words.back().push_back(static_cast<char>(data[i]));
        }
    }
    std::vector<const char*> argv;
    for (const std::string& w : words) {
        argv.push_back(w.c_str());
    }

    auto no_files = [](const std::string&, std::string& error) -> std::optional<std::string> {
        error = "not in a fuzzer";
        return std::nullopt;
    };
    echod::CommandLine result = echod::parse_command_line(argv, no_files);
    using Action = echod::CommandLine::Action;
    if (result.action == Action::usage_error) {
        check(result.error.starts_with("echod: "));
        check(result.error.ends_with(" (see 'echod --help')"));
        check(result.error.find('\n') == std::string::npos);
    } else {
        check(result.error.empty());
        const echod::Config& c = result.config;
        check(c.backlog >= 1 && c.backlog <= 65535);
        check(c.buffer_size >= echod::min_buffer_size && c.buffer_size <= echod::max_buffer_size);
        check(!c.listen.empty() && !c.listen.front().empty());
        check(c.faults.share > 0 && c.faults.share <= 1);
        check(c.faults.drop >= 0 && c.faults.drop <= 1);
        check(c.faults.slice <= echod::max_buffer_size && c.faults.rate <= echod::max_fault_rate);
        check(c.faults.any() == (c.faults.shapes_writes() || c.faults.end != echod::FaultEnd::none ||
                                 !c.faults.specs[static_cast<std::size_t>(echod::Fault::drop)].empty()));
    }
    // The same words again give the same answer: no state left behind.
    echod::CommandLine again = echod::parse_command_line(argv, no_files);
    check(again.action == result.action && again.error == result.error);

    argv[0] = "echobench";
    echobench::BenchCommandLine bench = echobench::parse_bench_command_line(argv);
    if (bench.action == echobench::BenchCommandLine::Action::usage_error) {
        check(bench.error.starts_with("echobench: "));
        check(bench.error.ends_with(" (see 'echobench --help')"));
        check(bench.error.find('\n') == std::string::npos);
    } else {
        check(bench.error.empty());
        check(bench.config.connections >= 1 && bench.config.pipeline >= 1 && bench.config.size >= 1);
    }
    return 0;
}
