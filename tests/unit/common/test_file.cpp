// Whole files: bounded reads of regular files only, and atomic writes.
#include "doctest_include.h"

#include "common/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

namespace {

// A fresh directory under /tmp, removed (it must be empty) at the end.
struct TempDir {
    std::string path;
    TempDir() {
        char name[] = "/tmp/echod-test-XXXXXX";
        REQUIRE(mkdtemp(name) != nullptr);
        path = name;
    }
    ~TempDir() { CHECK(rmdir(path.c_str()) == 0); }  // fails if a temporary was left behind
};

void write_plain(const std::string& path, const std::string& content) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(content.data(), 1, content.size(), f) == content.size());
    REQUIRE(std::fclose(f) == 0);
}

}  // namespace

TEST_CASE("read_text_file: regular files up to the cap, and nothing else") {
    TempDir dir;
    const std::string path = dir.path + "/f.txt";
    std::string text = "untouched";

    CHECK(common::read_text_file(path, 100, text) == "No such file or directory");
    CHECK(common::read_text_file(dir.path, 100, text) == "is a directory");
    CHECK(common::read_text_file("/dev/zero", 100, text) == "is not a regular file");
    CHECK(common::read_text_file("/dev/null", 100, text) == "is not a regular file");
    CHECK(text == "untouched");

    write_plain(path, "");
    REQUIRE(common::read_text_file(path, 100, text).empty());
    CHECK(text.empty());

    write_plain(path, std::string(100, 'x'));
    REQUIRE(common::read_text_file(path, 100, text).empty());
    CHECK(text == std::string(100, 'x'));

    text = "untouched";
    write_plain(path, std::string(101, 'x'));
    CHECK(common::read_text_file(path, 100, text) == "is larger than 100B");
    write_plain(path, std::string(2 * 1024 * 1024, 'x'));
    CHECK(common::read_text_file(path, 1024 * 1024, text) == "is larger than 1MiB");
    CHECK(text == "untouched");

    std::string nul("a\0b", 3);
    write_plain(path, nul);
    REQUIRE(common::read_text_file(path, 100, text).empty());
    CHECK(text == nul);  // bytes as they are: what a NUL means is the caller's to say
    CHECK(std::remove(path.c_str()) == 0);
}

TEST_CASE("AtomicFile: whole or not at all, unique temporaries, errors early") {
    TempDir dir;
    const std::string path = dir.path + "/run.json";
    std::string text;
    {
        common::AtomicFile file;
        REQUIRE(file.open(path).empty());
        CHECK(common::read_text_file(path, 100, text) == "No such file or directory");  // not there until commit
        REQUIRE(file.commit("hello\n").empty());
    }
    REQUIRE(common::read_text_file(path, 100, text).empty());
    CHECK(text == "hello\n");

    SUBCASE("never committed: the old file stays, the temporary goes") {
        common::AtomicFile file;
        REQUIRE(file.open(path).empty());
    }
    SUBCASE("two writers of one path at once do not share a temporary") {
        common::AtomicFile a;
        common::AtomicFile b;
        REQUIRE(a.open(path).empty());
        REQUIRE(b.open(path).empty());
        REQUIRE(b.commit("b\n").empty());
        REQUIRE(a.commit("a\n").empty());
        REQUIRE(common::read_text_file(path, 100, text).empty());
        CHECK(text == "a\n");
        REQUIRE(common::write_file_atomically(path, "hello\n").empty());
    }
    SUBCASE("reused for the next version") {
        common::AtomicFile file;
        REQUIRE(file.open(path).empty());
        REQUIRE(file.commit("one\n").empty());
        REQUIRE(file.open(path).empty());
        REQUIRE(file.commit("hello\n").empty());
    }
    REQUIRE(common::read_text_file(path, 100, text).empty());
    CHECK(text == "hello\n");

    common::AtomicFile nowhere;
    CHECK(nowhere.open(dir.path + "/no/such/dir/x.json") == "No such file or directory");
    CHECK(nowhere.open(dir.path) == "is a directory");
    CHECK(common::write_file_atomically(dir.path, "x") == "is a directory");
    CHECK(nowhere.commit("x") == "not open");
    CHECK(std::remove(path.c_str()) == 0);
}

TEST_CASE("write_all: every byte, or the errno") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    CHECK(common::write_all(fds[1], "abc") == 0);
    char buffer[8] = {};
    CHECK(read(fds[0], buffer, sizeof buffer) == 3);
    CHECK(std::string(buffer) == "abc");
    close(fds[0]);
    close(fds[1]);
    CHECK(common::write_all(fds[1], "x") == EBADF);
}
