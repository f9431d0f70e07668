#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/parse.h"

namespace common {

namespace {

// For the reasons a caller puts after a path: "No such file or directory".
std::string errno_text(int err) {
    return std::strerror(err);
}

// Why path (open as fd) is not a file to read whole, or "".
std::string not_a_text_file(int fd, std::size_t max_size, std::size_t& size) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return errno_text(errno);
    }
    if (S_ISDIR(st.st_mode)) {
        return "is a directory";
    }
    // A device, FIFO or socket has no size to check: /dev/zero would never end.
    if (!S_ISREG(st.st_mode)) {
        return "is not a regular file";
    }
    size = static_cast<std::size_t>(st.st_size);
    if (size > max_size) {
        return fmt::format("is larger than {}", format_size(max_size));
    }
    return {};
}

}  // namespace

std::string read_text_file(const std::string& path, std::size_t max_size, std::string& out) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return errno_text(errno);
    }
    std::size_t size = 0;
    std::string error = not_a_text_file(fd, max_size, size);
    std::string text;
    if (error.empty()) {
        // The file may grow while it is read: read to its end, but never past
        // max_size.
        text.resize(size);
        std::size_t have = 0;
        for (;;) {
            if (have == text.size()) {
                if (text.size() > max_size) {
                    error = fmt::format("is larger than {}", format_size(max_size));
                    break;
                }
                text.resize(text.size() + 4096);
            }
            ssize_t n = ::read(fd, text.data() + have, text.size() - have);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                error = errno_text(errno);
                break;
            }
            if (n == 0) {
                break;
            }
            have += static_cast<std::size_t>(n);
        }
        text.resize(have);
    }
    ::close(fd);
    if (error.empty()) {
        out = std::move(text);
    }
    return error;
}

int write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return errno;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

AtomicFile::~AtomicFile() {
    discard();
}

void AtomicFile::discard() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
        ::unlink(temp_path_.c_str());
    }
}

std::string AtomicFile::open(const std::string& path) {
    discard();
    // Check the target first: a directory there would take the temporary's
    // rename only at the end, and O_EXCL on "DIR.tmp..." would succeed.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        return "is a directory";
    }
    // Unique among the writers of this machine: the pid, and a counter for
    // the files one process has open at once. O_EXCL makes sure.
    static std::atomic<unsigned> counter{0};
    path_ = path;
    temp_path_ = fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter.fetch_add(1, std::memory_order_relaxed));
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        return errno_text(errno);
    }
    return {};
}

std::string AtomicFile::commit(std::string_view content) {
    if (fd_ < 0) {
        return "not open";
    }
    const char* failed = nullptr;
    int err = write_all(fd_, content);
    if (err != 0) {
        failed = "write";
    } else if (::fsync(fd_) != 0) {
        failed = "fsync";
        err = errno;
    }
    if (failed != nullptr) {
        discard();
        return fmt::format("{}: {}", failed, errno_text(err));
    }
    int closed = ::close(fd_);
    fd_ = -1;
    if (closed != 0) {
        err = errno;
        ::unlink(temp_path_.c_str());
        return fmt::format("close: {}", errno_text(err));
    }
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
        err = errno;
        ::unlink(temp_path_.c_str());
        return fmt::format("rename: {}", errno_text(err));
    }
    return {};
}

std::string write_file_atomically(const std::string& path, std::string_view content) {
    AtomicFile file;
    std::string error = file.open(path);
    return error.empty() ? file.commit(content) : error;
}

}  // namespace common
