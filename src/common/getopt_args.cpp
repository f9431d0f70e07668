#include "common/getopt_args.h"

#include "common/parse.h"

#include <fmt/format.h>

namespace common {

std::string usage_line(std::string_view program, std::string_view what) {
    return fmt::format("{0}: {1} (see '{0} --help')", program, what);
}

std::string_view usage_what(std::string_view program, std::string_view line) {
    std::string prefix = fmt::format("{}: ", program);
    std::string suffix = fmt::format(" (see '{} --help')", program);
    if (line.size() < prefix.size() + suffix.size() || !line.starts_with(prefix) || !line.ends_with(suffix)) {
        return line;
    }
    return line.substr(prefix.size(), line.size() - prefix.size() - suffix.size());
}

GetoptArgs::GetoptArgs(std::string_view program, std::span<const char* const> args, const option* long_options,
                       const char* short_options)
    : program_(program),
      long_options_(long_options),
      short_options_(short_options),
      storage_(args.begin(), args.end()) {
    argv_.reserve(storage_.size() + 1);
    for (std::string& s : storage_) {
        argv_.push_back(s.data());
    }
    argv_.push_back(nullptr);
    optind = 0;  // glibc: a full restart, not just a rewind
    opterr = 0;  // we print our own errors
}

int GetoptArgs::next() {
    return getopt_long(static_cast<int>(storage_.size()), argv_.data(), short_options_, long_options_, nullptr);
}

const char* GetoptArgs::long_name(int value) const {
    for (const option* o = long_options_; o->name != nullptr; ++o) {
        if (o->val == value) {
            return o->name;
        }
    }
    return "?";
}

std::string GetoptArgs::option_error(int value, std::string_view reason) const {
    return usage_line(fmt::format("--{}: {}", long_name(value), reason));
}

std::string GetoptArgs::malformed(int c) const {
    if (c == ':') {
        return option_error(optopt, "missing value");
    }
    // optopt is the option's value when a known long option was given a
    // value it does not take; 0 for an unknown long option.
    const char* given = argv_[static_cast<std::size_t>(optind) - 1];
    if (optopt != 0 && std::string_view(given).starts_with("--")) {
        return option_error(optopt, "takes no value");
    }
    if (optopt != 0) {
        return usage_line(fmt::format("unknown option '-{}'", printable(std::string(1, static_cast<char>(optopt)))));
    }
    return usage_line(fmt::format("unknown option '{}'", printable(given)));
}

std::string GetoptArgs::stray() const {
    if (static_cast<std::size_t>(optind) >= storage_.size()) {
        return {};
    }
    return usage_line(fmt::format("unexpected argument '{}'", printable(argv_[static_cast<std::size_t>(optind)])));
}

}  // namespace common
