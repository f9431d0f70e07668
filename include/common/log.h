// Leveled logging to stderr, one line per call: "echod: LEVEL: message".
//
// A disabled level costs one comparison: the message is not formatted.
#pragma once

#include <fmt/format.h>
#include <string_view>

namespace common {

enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };

std::string_view to_string(LogLevel level);

// The threshold: messages above it are dropped. Set at start-up, and again
// by echod's reload.
void set_log_level(LogLevel level);
LogLevel log_level();

// Writes one whole line with a single write(2), so lines never interleave.
void write_log_line(std::string_view prefix, fmt::string_view format, fmt::format_args args);

inline bool log_enabled(LogLevel level) {
    return level <= log_level();
}

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
    if (log_enabled(level)) {
        write_log_line(to_string(level), format, fmt::make_format_args(args...));
    }
}

template <typename... Args>
void log_error(fmt::format_string<Args...> format, Args&&... args) {
    log(LogLevel::error, format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_warn(fmt::format_string<Args...> format, Args&&... args) {
    log(LogLevel::warn, format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args) {
    log(LogLevel::info, format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_debug(fmt::format_string<Args...> format, Args&&... args) {
    log(LogLevel::debug, format, std::forward<Args>(args)...);
}

// Lines scripts depend on (the ready line, the shutdown summary): written at
// every level, -q and error included.
template <typename... Args>
void log_notice(fmt::format_string<Args...> format, Args&&... args) {
    write_log_line("notice", format, fmt::make_format_args(args...));
}

}  // namespace common
