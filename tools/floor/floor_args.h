// What the floors' command lines share (floor_churn, floor_uv_echo): over
// common::GetoptArgs, a usage error is one line on stderr and exit 2, and
// -h prints the usage on stdout and exits 0.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/getopt_args.h"

namespace floor_args {

[[noreturn]] inline void usage_error(const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::exit(2);
}

// The getopt loop's default case: 'h' (help), or a malformed option.
[[noreturn]] inline void help_or_malformed(const common::GetoptArgs& getopt, int c, const char* usage) {
    if (c == 'h') {
        std::fputs(usage, stdout);
        std::exit(0);
    }
    usage_error(getopt.malformed(c));
}

// After the getopt loop: a stray argument is a usage error.
inline void reject_stray(const common::GetoptArgs& getopt) {
    if (std::string stray = getopt.stray(); !stray.empty()) {
        usage_error(stray);
    }
}

}  // namespace floor_args
