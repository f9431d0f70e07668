// What echod's and echobench's command lines share: getopt_long over a
// private copy of argv, and usage errors in the same words, one line each.
#pragma once

#include <getopt.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace common {

// "PROGRAM: what (see 'PROGRAM --help')"
std::string usage_line(std::string_view program, std::string_view what);
// The what of a usage_line, for a caller that reports it in another frame
// (echod's reload); a line of another shape comes back whole.
std::string_view usage_what(std::string_view program, std::string_view line);

class GetoptArgs {
public:
    // getopt_long permutes argv and keeps global state: this takes a private,
    // writable copy and resets that state, so parsing is repeatable.
    // long_options ends with a zeroed entry; short_options starts with ':'.
    GetoptArgs(std::string_view program, std::span<const char* const> args, const option* long_options,
               const char* short_options);
    GetoptArgs(const GetoptArgs&) = delete;
    GetoptArgs& operator=(const GetoptArgs&) = delete;

    // getopt_long's next answer: an option's value, ':' (missing value), '?'
    // (unknown option, or a value given to a switch), or -1 at the end.
    int next();

    // The error line for ':' or '?'.
    std::string malformed(int c) const;

    // After next() returned -1: the error line for a stray argument, or "".
    std::string stray() const;

    // "PROGRAM: --name: reason (see 'PROGRAM --help')"
    std::string option_error(int value, std::string_view reason) const;

    std::string usage_line(std::string_view what) const { return common::usage_line(program_, what); }

private:
    const char* long_name(int value) const;

    std::string program_;
    const option* long_options_;
    const char* short_options_;
    std::vector<std::string> storage_;  // the copy of argv
    std::vector<char*> argv_;           // pointers into storage_, then nullptr
};

}  // namespace common
