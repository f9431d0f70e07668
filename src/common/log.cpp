#include "common/log.h"

#include "common/file.h"

#include <unistd.h>

#include <cerrno>
#include <iterator>

namespace common {
namespace {

LogLevel current_level = LogLevel::info;

}  // namespace

std::string_view to_string(LogLevel level) {
    switch (level) {
        case LogLevel::error:
            return "error";
        case LogLevel::warn:
            return "warn";
        case LogLevel::info:
            return "info";
        case LogLevel::debug:
            return "debug";
    }
    return "?";
}

void set_log_level(LogLevel level) {
    current_level = level;
}

LogLevel log_level() {
    return current_level;
}

void write_log_line(std::string_view prefix, fmt::string_view format, fmt::format_args args) {
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), "echod: {}: ", prefix);
    fmt::vformat_to(std::back_inserter(line), format, args);
    line.push_back('\n');
    // stderr may be a non-blocking pipe that is momentarily full; a log line
    // is not worth blocking the loop for, so it is dropped then.
    (void)write_all(STDERR_FILENO, {line.data(), line.size()}, false);
}

}  // namespace common
