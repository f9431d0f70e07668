#include "doctest_include.h"

#include "echod/reload.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

using echod::Config;
using echod::ConfigSource;
using echod::Reload;

namespace {

// Files in memory: ConfigSource reads through this, so a test edits the
// "file" between two reloads.
struct Files {
    std::map<std::string, std::string> text;

    echod::ReadFile reader() {
        return [this](const std::string& path, std::string& error) -> std::optional<std::string> {
            auto it = text.find(path);
            if (it == text.end()) {
                error = "No such file or directory";
                return std::nullopt;
            }
            return it->second;
        };
    }
};

Config parsed(const std::vector<const char*>& args, Files& files) {
    echod::CommandLine command = echod::parse_command_line(args, files.reader());
    REQUIRE(command.action == echod::CommandLine::Action::run);
    return command.config;
}

}  // namespace

TEST_CASE("compare_for_reload: live options change, the rest is named and kept") {
    Config running;
    Config next;
    SUBCASE("nothing changed") {
        Reload r = echod::compare_for_reload(running, next);
        CHECK(r.outcome == Reload::Outcome::applied);
        CHECK(r.changed.empty());
        CHECK(r.kept.empty());
        CHECK(echod::reload_notice("/etc/echod/echod.conf", r) == "reloaded /etc/echod/echod.conf: nothing changed");
        CHECK(echod::kept_warning(r) == "");
    }
    SUBCASE("live options, in the order of --help, log level last") {
        next.max_connections = 1;
        next.log_level = common::LogLevel::debug;
        next.idle_timeout_s = 2.5;
        next.stats_interval_s = 1;
        next.metrics_file = "/run/echod/m.prom";
        next.shutdown_timeout_s = 1;
        Reload r = echod::compare_for_reload(running, next);
        CHECK(r.kept.empty());
        CHECK(echod::reload_notice("e.conf", r) ==
              "reloaded e.conf: max-connections 10000 -> 1, idle-timeout 0 -> 2.5, shutdown-timeout 5 -> 1, "
              "stats-interval 0 -> 1, metrics-file none -> '/run/echod/m.prom', log-level info -> debug");
        CHECK(r.config.max_connections == 1);
        CHECK(r.config.idle_timeout_s == 2.5);
        CHECK(r.config.metrics_file == "/run/echod/m.prom");
    }
    SUBCASE("options bound at start: one warning, the old values kept, the live ones still apply") {
        next.port = 7008;
        next.buffer_size = 1024;
        next.listen = {"127.0.0.2", "::1"};
        next.workers = 4;
        next.max_connections = 7;
        Reload r = echod::compare_for_reload(running, next);
        CHECK(echod::kept_warning(r) ==
              "reload: listen 127.0.0.1 -> 127.0.0.2,::1, port 7007 -> 7008, buffer-size 64KiB -> 1KiB, "
              "workers 1 -> 4: cannot change live, kept until restart");
        CHECK(r.config.port == 7007);
        CHECK(r.config.buffer_size == running.buffer_size);
        CHECK(r.config.listen == running.listen);
        CHECK(r.config.workers == 1);
        CHECK(r.config.max_connections == 7);
        CHECK(echod::reload_notice("e.conf", r) == "reloaded e.conf: max-connections 10000 -> 7");
    }
    SUBCASE("faults: a seed not given stays the one drawn at start") {
        running.faults.seed = 42;
        REQUIRE(echod::add_fault("delay=0.1", next.faults) == "");
        Reload r = echod::compare_for_reload(running, next);
        CHECK(echod::reload_notice("e.conf", r) == "reloaded e.conf: fault none -> delay=0.1");
        CHECK(r.config.faults.seed == 42);
        CHECK(r.config.faults.delay);

        Reload back = echod::compare_for_reload(r.config, running);
        CHECK(echod::reload_notice("e.conf", back) == "reloaded e.conf: fault delay=0.1 -> none");
        CHECK_FALSE(back.config.faults.any());
    }
    SUBCASE("UDP sockets keep the faults they started with, and say so") {
        running.udp = next.udp = true;
        REQUIRE(echod::add_fault("drop=0.5", next.faults) == "");
        REQUIRE(echod::add_fault("slice=7", next.faults) == "");
        Reload r = echod::compare_for_reload(running, next);
        CHECK(echod::reload_notice("e.conf", r) == "reloaded e.conf: fault none -> slice=7 drop=0.5");
        CHECK(echod::kept_warning(r) ==
              "reload: fault on UDP none -> drop=0.5: cannot change live, kept until restart");
    }
    SUBCASE("a fault seed given anew replaces it") {
        running.faults.seed = 42;
        next.faults.seed = 7;
        Reload r = echod::compare_for_reload(running, next);
        CHECK(echod::reload_notice("e.conf", r) == "reloaded e.conf: fault-seed 42 -> 7");
    }
}

TEST_CASE("copy_live_options copies the live options and nothing else") {
    Config from;
    from.max_connections = 3;
    from.port = 1;
    from.report_fd = 9;
    from.log_level = common::LogLevel::error;
    Config to;
    echod::copy_live_options(from, to);
    CHECK(to.max_connections == 3);
    CHECK(to.log_level == common::LogLevel::error);
    CHECK(to.port == 7007);
    CHECK(to.report_fd == -1);
}

TEST_CASE("ConfigSource: the file read again, the command line over it") {
    Files files;
    files.text["e.conf"] = "max-connections = 5\nidle-timeout = 3\n";
    std::vector<const char*> args = {"echod", "--config", "e.conf", "--idle-timeout", "9", "--port", "0"};
    ConfigSource source(args, "e.conf", parsed(args, files), files.reader());

    SUBCASE("applied: the command line still wins") {
        files.text["e.conf"] = "max-connections = 1\nidle-timeout = 1\nport = 7008\n";
        Reload r = source.reload();
        REQUIRE(r.outcome == Reload::Outcome::applied);
        CHECK(echod::reload_notice(source.path(), r) == "reloaded e.conf: max-connections 5 -> 1");
        CHECK(r.kept.empty());  // port: --port 0 wins over the file
        CHECK(source.running().max_connections == 1);
        CHECK(source.running().idle_timeout_s == 9);

        // The next reload compares with what the last one applied.
        CHECK(echod::reload_notice(source.path(), source.reload()) == "reloaded e.conf: nothing changed");
    }
    SUBCASE("a file that no longer parses: one line naming file and line, nothing changed") {
        files.text["e.conf"] = "max-connections = 1\nbacklog = 0\n";
        Reload r = source.reload();
        CHECK(r.outcome == Reload::Outcome::failed);
        CHECK(echod::failed_line(r) == "reload: e.conf:2: backlog: 0 is out of range 1..65535; nothing changed");
        CHECK(source.running().max_connections == 5);
    }
    SUBCASE("bad files") {
        using namespace std::string_literals;
        files.text["e.conf"] = "";
        CHECK(echod::failed_line(source.reload()) ==
              "reload: --config: cannot read 'e.conf': is empty; nothing changed");
        files.text["e.conf"] = " \n\n\t\n";
        CHECK(echod::failed_line(source.reload()) ==
              "reload: --config: cannot read 'e.conf': is empty; nothing changed");
        files.text["e.conf"] = std::string(4096, '\0');
        CHECK(echod::failed_line(source.reload()) == "reload: e.conf:1: a NUL byte: not a text file; nothing changed");
        files.text.erase("e.conf");
        CHECK(echod::failed_line(source.reload()) ==
              "reload: --config: cannot read 'e.conf': No such file or directory; nothing changed");
        CHECK(source.running().max_connections == 5);
    }
    SUBCASE("a combination the command line forbids") {
        files.text["e.conf"] = "fault = drop=0.5\n";
        CHECK(echod::failed_line(source.reload()) ==
              "reload: --fault: 'drop=0.5' needs --udp (drop loses UDP datagrams); nothing changed");
    }
}

TEST_CASE("ConfigSource: without --config there is nothing to read") {
    Files files;
    std::vector<const char*> args = {"echod", "--port", "0"};
    ConfigSource source(args, "", parsed(args, files), files.reader());
    CHECK(source.reload().outcome == Reload::Outcome::no_config);
}

TEST_CASE("the real reader is bounded as at start") {
    std::vector<const char*> args = {"echod", "--config", "/dev/zero"};
    ConfigSource source(args, "/dev/zero", Config{});
    CHECK(echod::failed_line(source.reload()) ==
          "reload: --config: cannot read '/dev/zero': is not a regular file; nothing changed");
    std::vector<const char*> dir_args = {"echod", "--config", "/tmp"};
    ConfigSource tmp(dir_args, "/tmp", Config{});
    CHECK(echod::failed_line(tmp.reload()) == "reload: --config: cannot read '/tmp': is a directory; nothing changed");
}
