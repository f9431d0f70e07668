#include "doctest_include.h"

#include "echod/options.h"

#include <initializer_list>
#include <map>
#include <optional>
#include <vector>

using common::LogLevel;
using echod::CommandLine;
using echod::Config;
using Action = CommandLine::Action;

namespace {

CommandLine parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv = {"echod"};
    argv.insert(argv.end(), args.begin(), args.end());
    return echod::parse_command_line(argv);
}

Config config_of(std::initializer_list<const char*> args) {
    CommandLine cl = parse(args);
    INFO(cl.error);
    REQUIRE(cl.action == Action::run);
    return cl.config;
}

std::string error_of(std::initializer_list<const char*> args) {
    CommandLine cl = parse(args);
    REQUIRE(cl.action == Action::usage_error);
    return cl.error;
}

std::string usage(std::string_view what) {
    return "echod: " + std::string(what) + " (see 'echod --help')";
}

}  // namespace

TEST_CASE("defaults") {
    Config c = config_of({});
    CHECK(c.listen == std::vector<std::string>{"127.0.0.1"});
    CHECK(c.stats_interval_s == 0);
    CHECK(c.metrics_file.empty());
    CHECK(c.metrics_listen.empty());
    CHECK(c.port == 7007);
    CHECK(c.backlog == 511);
    CHECK(c.buffer_size == 64 * 1024);
    CHECK(c.reuseaddr);
    CHECK(c.log_level == common::LogLevel::info);
    CHECK(c.max_connections == 10000);
    CHECK(c.idle_timeout_s == 0);
    CHECK(c.shutdown_timeout_s == 5);
}

TEST_CASE("every option, long and short, both value spellings") {
    SUBCASE("listen") {
        using Addresses = std::vector<std::string>;
        CHECK(config_of({"-l", "0.0.0.0"}).listen == Addresses{"0.0.0.0"});
        CHECK(config_of({"--listen", "::1"}).listen == Addresses{"::1"});
        CHECK(config_of({"--listen=::"}).listen == Addresses{"::"});
        // Given again, it adds an address; the default is replaced, not kept.
        CHECK(config_of({"-l", "127.0.0.1", "--listen", "::1"}).listen == Addresses{"127.0.0.1", "::1"});
    }
    SUBCASE("reuseport and workers") {
        CHECK_FALSE(config_of({}).reuseport);
        CHECK(config_of({"--reuseport"}).reuseport);
        CHECK(config_of({}).workers == 1);
        CHECK(config_of({"--workers", "4"}).workers == 4);
        CHECK(config_of({"--workers=256"}).workers == 256);
    }
    SUBCASE("udp") {
        CHECK_FALSE(config_of({}).udp);
        CHECK(config_of({"--udp"}).udp);
    }
    SUBCASE("proxy-protocol") {
        CHECK_FALSE(config_of({}).proxy_protocol);
        CHECK(config_of({"--proxy-protocol"}).proxy_protocol);
        CHECK(config_of({"--proxy-protocol", "--workers", "2"}).proxy_protocol);
        CHECK(error_of({"--proxy-protocol=v2"}) == usage("--proxy-protocol: takes no value"));
    }
    SUBCASE("stats") {
        CHECK(config_of({"--stats-interval", "2.5"}).stats_interval_s == doctest::Approx(2.5));
        CHECK(config_of({"--metrics-file", "/tmp/echod.prom"}).metrics_file == "/tmp/echod.prom");
        CHECK(config_of({"--metrics-listen", "127.0.0.1:9100"}).metrics_listen == "127.0.0.1:9100");
        CHECK(config_of({"--metrics-listen=[::1]:0"}).metrics_listen == "[::1]:0");
    }
    SUBCASE("port") {
        CHECK(config_of({"-p", "0"}).port == 0);
        CHECK(config_of({"--port=65535"}).port == 65535);
        CHECK(config_of({"-p8080"}).port == 8080);
    }
    SUBCASE("backlog") {
        CHECK(config_of({"-b", "1"}).backlog == 1);
        CHECK(config_of({"--backlog", "65535"}).backlog == 65535);
    }
    SUBCASE("buffer-size") {
        CHECK(config_of({"-B", "16"}).buffer_size == 16);
        CHECK(config_of({"--buffer-size=4K"}).buffer_size == 4096);
        CHECK(config_of({"--buffer-size", "1MiB"}).buffer_size == 1048576);
        CHECK(config_of({"-B", "256M"}).buffer_size == 256 * 1048576);
    }
    SUBCASE("reuseaddr") {
        CHECK_FALSE(config_of({"--no-reuseaddr"}).reuseaddr);
        CHECK(config_of({"--no-reuseaddr", "--reuseaddr"}).reuseaddr);
    }
    SUBCASE("limits and timeouts") {
        CHECK(config_of({"--max-connections", "1"}).max_connections == 1);
        CHECK(config_of({"--max-connections=1000000"}).max_connections == 1000000);
        CHECK(config_of({"--max-buffer-memory", "8MiB"}).max_buffer_memory == 8 * 1048576);
        CHECK(config_of({"--max-buffer-memory=16"}).max_buffer_memory == 16);
        CHECK(config_of({}).max_buffer_memory == 1024 * 1048576);
        CHECK(config_of({"--idle-timeout", "30"}).idle_timeout_s == 30);
        CHECK(config_of({"--idle-timeout=0.25"}).idle_timeout_s == doctest::Approx(0.25));
        CHECK(config_of({"--shutdown-timeout", "0"}).shutdown_timeout_s == 0);
        CHECK(config_of({"--shutdown-timeout", "1.5"}).shutdown_timeout_s == doctest::Approx(1.5));
    }
    SUBCASE("log level") {
        CHECK(config_of({"--log-level", "error"}).log_level == common::LogLevel::error);
        CHECK(config_of({"--log-level=warn"}).log_level == common::LogLevel::warn);
        CHECK(config_of({"--log-level", "debug"}).log_level == common::LogLevel::debug);
        CHECK(config_of({"-v"}).log_level == common::LogLevel::debug);
        CHECK(config_of({"--verbose"}).log_level == common::LogLevel::debug);
        CHECK(config_of({"-q"}).log_level == common::LogLevel::warn);
        CHECK(config_of({"-v", "-q"}).log_level == common::LogLevel::warn);
    }
}

TEST_CASE("a later option overrides an earlier one") {
    CHECK(config_of({"-p", "1", "--port", "2"}).port == 2);
    CHECK(config_of({"-B", "1M", "-B", "16"}).buffer_size == 16);
    CHECK(config_of({"--log-level", "debug", "-q"}).log_level == common::LogLevel::warn);
}

TEST_CASE("help and version") {
    CHECK(parse({"-h"}).action == Action::help);
    CHECK(parse({"--help"}).action == Action::help);
    CHECK(parse({"--version"}).action == Action::version);
    CHECK(parse({"--port", "1", "--help"}).action == Action::help);
    // A usage error wins: nothing is printed to stdout for a bad command line.
    CHECK(parse({"--help", "--port", "x"}).action == Action::usage_error);
}

TEST_CASE("invalid values name the option and say what is wrong") {
    CHECK(error_of({"--backlog", "0"}) == usage("--backlog: 0 is out of range 1..65535"));
    CHECK(error_of({"-b", "65536"}) == usage("--backlog: 65536 is out of range 1..65535"));
    CHECK(error_of({"--port", "65536"}) == usage("--port: 65536 is out of range 0..65535"));
    CHECK(error_of({"--port", "-1"}) == usage("--port: '-1' is not a whole number"));
    CHECK(error_of({"--port", "http"}) == usage("--port: 'http' is not a whole number"));
    CHECK(error_of({"--port="}) == usage("--port: '' is not a whole number"));
    CHECK(error_of({"-B", "15"}) == usage("--buffer-size: 15 is out of range 16B..256MiB"));
    CHECK(error_of({"-B", "257M"}) == usage("--buffer-size: 257M is out of range 16B..256MiB"));
    for (const char* bad : {"1k", "1KB", "1G", "1.5K", "K"}) {
        CAPTURE(bad);
        CHECK(error_of({"-B", bad}) ==
              usage(fmt::format("--buffer-size: '{}' is not a size (a whole number of bytes, optionally with K, "
                                "KiB, M or MiB)",
                                bad)));
    }
    CHECK(error_of({"--listen", "localhost"}) == usage("--listen: 'localhost' is not an IPv4 or IPv6 address literal"));
    CHECK(error_of({"-l", "1.2.3"}) == usage("--listen: '1.2.3' is not an IPv4 or IPv6 address literal"));
    CHECK(error_of({"--workers", "0"}) == usage("--workers: 0 is out of range 1..256"));
    CHECK(error_of({"--workers", "257"}) == usage("--workers: 257 is out of range 1..256"));
    CHECK(error_of({"--workers", "2", "--udp"}) == usage("--workers: cannot be combined with --udp"));
    CHECK(error_of({"--reuseport=1"}) == usage("--reuseport: takes no value"));
    CHECK(error_of({"--max-connections", "0"}) == usage("--max-connections: 0 is out of range 1..1000000"));
    CHECK(error_of({"--max-buffer-memory", "15"}) == usage("--max-buffer-memory: 15 is out of range 16B..1048576MiB"));
    CHECK(error_of({"--max-buffer-memory", "1G"}) ==
          usage("--max-buffer-memory: '1G' is not a size (a whole number of bytes, optionally with K, KiB, M or MiB)"));
    CHECK(error_of({"--max-connections", "1000001"}) == usage("--max-connections: 1000001 is out of range 1..1000000"));
    CHECK(error_of({"--idle-timeout", "-1"}) == usage("--idle-timeout: '-1' is not a number of seconds"));
    CHECK(error_of({"--idle-timeout", "1m"}) == usage("--idle-timeout: '1m' is not a number of seconds"));
    CHECK(error_of({"--idle-timeout", "604801"}) == usage("--idle-timeout: 604801 is out of range 0..604800"));
    CHECK(error_of({"--shutdown-timeout", "3601"}) == usage("--shutdown-timeout: 3601 is out of range 0..3600"));
    CHECK(error_of({"--shutdown-timeout"}) == usage("--shutdown-timeout: missing value"));
    CHECK(error_of({"--stats-interval", "86401"}) == usage("--stats-interval: 86401 is out of range 0..86400"));
    CHECK(error_of({"--metrics-file="}) == usage("--metrics-file: needs a file name"));
    CHECK(error_of({"--metrics-listen", "9100"}) ==
          usage("--metrics-listen: '9100' is not ADDR:PORT (an IPv4 literal or a [bracketed] IPv6 one, and a port)"));
    CHECK(error_of({"--metrics-listen", "::1:9100"}) ==
          usage("--metrics-listen: '::1:9100' is not ADDR:PORT (an IPv4 literal or a [bracketed] IPv6 one, and a "
                "port)"));
    CHECK(error_of({"--metrics-listen", "127.0.0.1:70000"}) ==
          usage("--metrics-listen: port: 70000 is out of range 0..65535"));
    CHECK(error_of({"--log-level", "loud"}) == usage("--log-level: 'loud' is not one of error, warn, info, debug"));
}

TEST_CASE("malformed command lines") {
    CHECK(error_of({"--port"}) == usage("--port: missing value"));
    CHECK(error_of({"-p"}) == usage("--port: missing value"));
    CHECK(error_of({"--frobnicate"}) == usage("unknown option '--frobnicate'"));
    CHECK(error_of({"-x"}) == usage("unknown option '-x'"));
    CHECK(error_of({"--reuseaddr=1"}) == usage("--reuseaddr: takes no value"));
    CHECK(error_of({"--help=yes"}) == usage("--help: takes no value"));
    CHECK(error_of({"serve"}) == usage("unexpected argument 'serve'"));
    CHECK(error_of({"-p", "1", "extra"}) == usage("unexpected argument 'extra'"));
    CHECK(error_of({"--", "-p"}) == usage("unexpected argument '-p'"));
    // User text is escaped: the error stays one line (found by fuzz_options).
    CHECK(error_of({"a\nb"}) == usage("unexpected argument 'a\\nb'"));
    CHECK(error_of({"--port", "1\n"}) == usage("--port: '1\\n' is not a whole number"));
    CHECK(error_of({"--listen", "\x01\xff"}) == usage("--listen: '\\x01\\xff' is not an IPv4 or IPv6 address literal"));
}

TEST_CASE("parsing twice gives the same answer (no state left in getopt)") {
    CHECK(error_of({"--port", "x"}) == usage("--port: 'x' is not a whole number"));
    CHECK(config_of({"--port", "5"}).port == 5);
    CHECK(config_of({"-p", "6"}).port == 6);
}

TEST_CASE("help lists every option with its default") {
    std::string help = echod::help_text();
    for (const char* text : {"--listen",
                             "--port",
                             "--udp",
                             "--reuseport",
                             "--proxy-protocol",
                             "--workers",
                             "--backlog",
                             "--buffer-size",
                             "--reuseaddr",
                             "--no-reuseaddr",
                             "--log-level",
                             "--max-connections",
                             "--max-buffer-memory",
                             "1024MiB",
                             "--idle-timeout",
                             "--shutdown-timeout",
                             "--stats-interval",
                             "--metrics-file",
                             "--metrics-listen",
                             "10000",
                             "--verbose",
                             "--quiet",
                             "--help",
                             "--version",
                             "127.0.0.1",
                             "7007",
                             "511",
                             "64KiB"}) {
        CAPTURE(text);
        CHECK(help.find(text) != std::string::npos);
    }
}

namespace {

// parse_command_line with a fake file system: path -> text.
CommandLine parse_with_files(std::initializer_list<const char*> args, std::map<std::string, std::string> files) {
    std::vector<const char*> argv = {"echod"};
    argv.insert(argv.end(), args.begin(), args.end());
    return echod::parse_command_line(
        argv, [files](const std::string& path, std::string& error) -> std::optional<std::string> {
            auto it = files.find(path);
            if (it == files.end()) {
                error = "No such file or directory";
                return std::nullopt;
            }
            return it->second;
        });
}

std::string config_error(std::string_view text) {
    Config c;
    return echod::apply_config_text(text, "echod.conf", c);
}

}  // namespace

TEST_CASE("config file: key = value lines with the long option names") {
    Config c;
    std::string error = echod::apply_config_text(
        "# echod.conf\n"
        "\n"
        "port = 9000\n"
        "  backlog=128  \n"
        "buffer-size = 1MiB\r\n"
        "listen = 127.0.0.1\n"
        "listen = ::1\n"
        "reuseaddr = false\n"
        "udp = true\n"
        "reuseport = true\n"
        "proxy-protocol = true\n"
        "workers = 1\n"
        "max-connections = 500\n"
        "idle-timeout = 30\n"
        "shutdown-timeout = 2.5\n"
        "stats-interval = 60\n"
        "metrics-file = /var/lib/node_exporter/echod.prom\n"
        "metrics-listen = [::]:9100\n"
        "log-level = warn\n",
        "echod.conf", c);
    CHECK(error == "");
    CHECK(c.port == 9000);
    CHECK(c.backlog == 128);
    CHECK(c.buffer_size == 1048576);
    CHECK(c.listen == std::vector<std::string>{"127.0.0.1", "::1"});
    CHECK_FALSE(c.reuseaddr);
    CHECK(c.udp);
    CHECK(c.reuseport);
    CHECK(c.proxy_protocol);
    CHECK(c.workers == 1);
    CHECK(c.max_connections == 500);
    CHECK(c.idle_timeout_s == 30);
    CHECK(c.shutdown_timeout_s == doctest::Approx(2.5));
    CHECK(c.stats_interval_s == 60);
    CHECK(c.metrics_file == "/var/lib/node_exporter/echod.prom");
    CHECK(c.metrics_listen == "[::]:9100");
    CHECK(c.log_level == common::LogLevel::warn);
}

TEST_CASE("config file: the switches take true and false") {
    Config c;
    CHECK(echod::apply_config_text("proxy-protocol = true\n", "echod.conf", c) == "");
    CHECK(c.proxy_protocol);
    CHECK(echod::apply_config_text("proxy-protocol = false\nudp = false\n", "echod.conf", c) == "");
    CHECK_FALSE(c.proxy_protocol);
    CHECK_FALSE(c.udp);
}

TEST_CASE("config file errors name the file, the line and the key") {
    CHECK(config_error("port = 1\nbakclog = 5\n") == usage("echod.conf:2: 'bakclog': unknown key"));
    CHECK(config_error("\n\nbacklog = 0\n") == usage("echod.conf:3: backlog: 0 is out of range 1..65535"));
    CHECK(config_error("port 7007\n") == usage("echod.conf:1: expected 'key = value', got 'port 7007'"));
    CHECK(config_error("udp = yes\n") == usage("echod.conf:1: udp: 'yes' is not true or false"));
    CHECK(config_error("proxy-protocol = 2\n") == usage("echod.conf:1: proxy-protocol: '2' is not true or false"));
    CHECK(config_error("listen = localhost\n") ==
          usage("echod.conf:1: listen: 'localhost' is not an IPv4 or IPv6 address literal"));
    CHECK(config_error("metrics-listen = 127.0.0.1\n") ==
          usage("echod.conf:1: metrics-listen: '127.0.0.1' is not ADDR:PORT (an IPv4 literal or a [bracketed] IPv6 "
                "one, and a port)"));
    // Not options a file can set.
    for (const char* key : {"help", "version", "config", "verbose", "quiet", "no-reuseaddr", "--port"}) {
        CAPTURE(key);
        CHECK(config_error(std::string(key) + " = true\n") ==
              usage(fmt::format("echod.conf:1: '{}': unknown key", key)));
    }
}

TEST_CASE("config file: text only, and a bad value quoted short") {
    using namespace std::string_literals;
    CHECK(config_error("port = 1\nbacklog = 5\0\n"s) == usage("echod.conf:2: a NUL byte: not a text file"));
    CHECK(config_error("\0"s) == usage("echod.conf:1: a NUL byte: not a text file"));
    // A million nines: the line quotes 60 of them, then "...".
    std::string error = config_error("backlog = " + std::string(1000000, '9') + "\n");
    CHECK(error == usage("echod.conf:1: backlog: " + std::string(60, '9') + "... is out of range 1..65535"));
}

TEST_CASE("--config reads a regular file of at most 1 MiB, nothing else") {
    const auto error_for = [](const char* path) {
        return echod::parse_command_line(std::vector<const char*>{"echod", "--config", path}).error;
    };
    CHECK(error_for("/tmp") == usage("--config: cannot read '/tmp': is a directory"));
    CHECK(error_for("/dev/zero") == usage("--config: cannot read '/dev/zero': is not a regular file"));
    CHECK(error_for("/dev/null") == usage("--config: cannot read '/dev/null': is not a regular file"));
}

TEST_CASE("--config: the command line wins, wherever --config stands") {
    std::map<std::string, std::string> files = {
        {"/etc/echod.conf", "port = 9000\nbacklog = 64\nlisten = ::1\nlisten = 127.0.0.2\n"}};
    SUBCASE("file values apply where the command line is silent") {
        CommandLine cl = parse_with_files({"--config", "/etc/echod.conf"}, files);
        REQUIRE(cl.action == Action::run);
        CHECK(cl.config.port == 9000);
        CHECK(cl.config.backlog == 64);
        CHECK(cl.config.listen == std::vector<std::string>{"::1", "127.0.0.2"});
    }
    SUBCASE("command-line values override, before or after --config") {
        for (auto args : {std::vector<const char*>{"-p", "1", "--config=/etc/echod.conf"},
                          std::vector<const char*>{"--config", "/etc/echod.conf", "-p", "1"}}) {
            std::vector<const char*> argv = {"echod"};
            argv.insert(argv.end(), args.begin(), args.end());
            CommandLine cl = echod::parse_command_line(argv, [&files](const std::string& path, std::string&) {
                return std::optional<std::string>(files.at(path));
            });
            REQUIRE(cl.action == Action::run);
            CHECK(cl.config.port == 1);
            CHECK(cl.config.backlog == 64);
        }
    }
    SUBCASE("a --listen on the command line replaces the file's addresses") {
        CommandLine cl = parse_with_files({"--config", "/etc/echod.conf", "-l", "127.0.0.1"}, files);
        CHECK(cl.config.listen == std::vector<std::string>{"127.0.0.1"});
    }
    SUBCASE("a missing file is a usage error") {
        CHECK(parse_with_files({"--config", "/nope.conf"}, files).error ==
              usage("--config: cannot read '/nope.conf': No such file or directory"));
    }
    SUBCASE("an error in the file is reported with its path") {
        files["bad.conf"] = "port = 70000\n";
        CHECK(parse_with_files({"--config", "bad.conf"}, files).error ==
              usage("bad.conf:1: port: 70000 is out of range 0..65535"));
    }
    SUBCASE("a command-line error is reported before the file is read") {
        CHECK(parse_with_files({"--config", "/nope.conf", "--port", "x"}, files).error ==
              usage("--port: 'x' is not a whole number"));
    }
}

TEST_CASE("listen unix:PATH: a Unix stream socket, mixed freely with IP addresses") {
    using Addresses = std::vector<std::string>;
    CHECK(config_of({"-l", "unix:/run/echod.sock"}).listen == Addresses{"unix:/run/echod.sock"});
    CHECK(config_of({"--listen=unix:echod.sock"}).listen == Addresses{"unix:echod.sock"});
    CHECK(config_of({"-l", "unix:/tmp/a", "-l", "::1", "-l", "unix:/tmp/b"}).listen ==
          Addresses{"unix:/tmp/a", "::1", "unix:/tmp/b"});
    // --port and --udp are for the IP addresses beside it; a Unix socket alone takes them too.
    CHECK(config_of({"-l", "unix:/tmp/a", "--udp", "-p", "9"}).udp);

    Config c;
    CHECK(echod::apply_config_text("listen = unix:/run/echod/echod.sock\nlisten = 127.0.0.1\n", "echod.conf", c) == "");
    CHECK(c.listen == Addresses{"unix:/run/echod/echod.sock", "127.0.0.1"});

    SUBCASE("a path too long for a socket address is a usage error") {
        std::string path = "/" + std::string(106, 'x');  // 107 bytes: the most sun_path holds
        std::string fits = "unix:" + path;
        CHECK(config_of({"-l", fits.c_str()}).listen == Addresses{fits});
        std::string over = fits + "y";
        CHECK(error_of({"-l", over.c_str()}) ==
              usage(fmt::format("--listen: '{}...': the path is 108 bytes, more than the 107 a Unix socket "
                                "address holds",
                                over.substr(0, 60))));
        CHECK(config_error("listen = " + over + "\n") ==
              usage(fmt::format("echod.conf:1: listen: '{}...': the path is 108 bytes, more than the 107 a Unix "
                                "socket address holds",
                                over.substr(0, 60))));
    }
    SUBCASE("no path, or a bare path") {
        CHECK(error_of({"-l", "unix:"}) == usage("--listen: 'unix:' needs a path (unix:PATH)"));
        CHECK(config_error("listen = unix:\n") == usage("echod.conf:1: listen: 'unix:' needs a path (unix:PATH)"));
        CHECK(error_of({"-l", "/run/echod.sock"}) ==
              usage("--listen: '/run/echod.sock' is not an IPv4 or IPv6 address literal (a Unix socket is "
                    "unix:/run/echod.sock)"));
    }
    SUBCASE("--workers share a port through SO_REUSEPORT, which Unix sockets lack") {
        CHECK(error_of({"--workers", "2", "-l", "127.0.0.1", "-l", "unix:/tmp/e.sock"}) ==
              usage("--workers: cannot be combined with a Unix socket ('unix:/tmp/e.sock')"));
        CHECK(config_of({"--workers", "1", "-l", "unix:/tmp/e.sock"}).workers == 1);
    }
}
