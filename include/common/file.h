// Files read and written whole, as both programs need them: a config file or
// a saved run read in one go (bounded, regular files only), and a metrics
// file, a report or a saved run that a reader sees whole or not at all.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace common {

// Reads the regular file at path into out, if it holds at most max_size
// bytes. Returns "" or the reason in a few words, for the caller to put
// after the path: strerror's words ("No such file or directory"), "is a
// directory", "is not a regular file" (/dev/zero, a FIFO), "is larger than
// 1MiB". out is left alone on failure.
std::string read_text_file(const std::string& path, std::size_t max_size, std::string& out);

// Writes all of data to fd, across short writes and EINTR, and, if
// wait_when_full, waiting (poll) while a non-blocking fd is full. Returns 0
// or the errno of the write that failed. Not for the loop's own sockets.
int write_all(int fd, std::string_view data, bool wait_when_full = true);

// A file that appears whole or not at all. open() creates a temporary beside
// path, with a name no other writer uses (O_EXCL), so a bad path fails early,
// before any work; commit() writes, fsyncs and renames it over path. A file
// never committed is removed. Reusable: open() again for the next version.
class AtomicFile {
public:
    AtomicFile() = default;
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    // "" or the reason ("No such file or directory", "is a directory").
    std::string open(const std::string& path);
    // "" or the failing call and its reason ("fsync: No space left on device").
    std::string commit(std::string_view content);

private:
    void discard();

    std::string path_;
    std::string temp_path_;
    int fd_ = -1;
};

// open() and commit() in one: "" or the reason.
std::string write_file_atomically(const std::string& path, std::string_view content);

}  // namespace common
