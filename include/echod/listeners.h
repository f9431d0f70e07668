// Where connections and datagrams come in: the listening sockets, TCP or
// Unix stream (one per --listen, or the ones systemd passed), and beside
// each IP one, with --udp, a UDP echo socket on the same address and port.
//
// The listening socket is made by echod itself rather than uv_tcp_bind():
// libuv always sets SO_REUSEADDR, and --no-reuseaddr must be able to not.
// It is watched with a uv_poll_t, and accepted from with accept4(2) here,
// as connections read and write their sockets themselves (connection.h).
// Out of descriptors (EMFILE, ENFILE), the pending connections are
// accepted with a descriptor kept in reserve and closed at once, as libuv
// does for its own listeners: the clients learn now, and the loop does not
// spin on a listener it cannot accept from.
// A Unix socket's too (not uv_pipe_bind()): a stale socket file in the way
// is replaced, a live one or any other file is not, and at close the file
// is removed only if it is still the one echod made.
#pragma once

#include "echod/fault_clock.h"
#include "echod/options.h"
#include "echod/stats.h"
#include "echod/udp_faults.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace echod {

struct ListenSocket {
    int fd = -1;            // bound, non-blocking, close-on-exec; -1 on failure
    int error = 0;          // libuv error code (UV_E*) on failure
    const char* call = "";  // the failing call ("bind", "socket", ...)
};

// socket + SO_REUSEADDR/SO_REUSEPORT (if asked) + IPV6_V6ONLY for IPv6 +
// bind. The caller listens on fd.
ListenSocket open_listen_socket(const std::string& literal, std::uint16_t port, bool reuseaddr, bool reuseport = false);

// A connection accepted on a stream listener: its socket (non-blocking,
// close-on-exec, the callee's to close), and whether it is TCP (else Unix).
// Or, with fd -1, a failed accept: error is its libuv code (UV_EMFILE for
// each connection closed at once for want of a descriptor).
using AcceptCallback = void (*)(void* data, int fd, bool tcp, int error);

class Listeners {
public:
    // datagrams: where a UDP datagram is read and sent back from, within
    // one callback (it may be shared with other such uses). faults: the
    // loop's --fault, for the UDP sockets (nullptr: none).
    Listeners(uv_loop_t* loop, const Config& config, Stats& stats, uv_buf_t datagrams, FaultContext* faults);
    Listeners(const Listeners&) = delete;
    Listeners& operator=(const Listeners&) = delete;

    // Listens on every --listen address, or on the sockets systemd passed,
    // with a UDP echo beside each IP one under --udp, and logs the ready line of
    // each once its TCP and UDP sockets are both serving. Each connection
    // accepted goes to on_accept, with data. False, once the reason is
    // logged, if any fails.
    bool start(AcceptCallback on_accept, void* data);

    // No more connections or datagrams, and the Unix socket files echod
    // made are removed. Idempotent; the handles are closed by the time the
    // loop has run once more.
    void close();

private:
    static void on_udp_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_udp_recv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned flags);
    static void on_listener_readable(uv_poll_t* poll, int status, int events);

    // A listening stream socket, TCP or Unix.
    struct StreamListener {
        uv_poll_t poll{};     // watches fd for pending connections, once listening
        int fd = -1;          // ours: closed at close()
        bool tcp = true;      // else a Unix socket
        bool polled = false;  // poll is initialised (and so must be closed)
        Listeners* owner = nullptr;
    };

    // A UDP echo socket, and its faults if any.
    struct UdpSocket {
        uv_udp_t handle{};
        Listeners* owner = nullptr;
        std::unique_ptr<UdpFaults> faults;  // nullptr: echo every datagram at once
    };

    // A stream socket bound (or inherited) but not yet listening.
    struct Opened {
        StreamListener* listener = nullptr;  // bound, not yet listening; nullptr once the failure is logged
        sockaddr_storage bound{};            // its address and port (the kernel's pick for --port 0), or path
        std::string wanted;                  // what errors name: "127.0.0.1:7007", "unix:PATH", "inherited fd 3"
        std::string how;                     // for the ready line: "reuseaddr on", "socket-activated fd 3"
    };

    // A socket file this process made by binding: removed at close if the
    // file at path is still that one.
    struct SocketFile {
        std::string path;
        dev_t device = 0;
        ino_t inode = 0;
    };

    Opened open_tcp(const std::string& address);   // one --listen IP address
    Opened open_unix(const std::string& address);  // one --listen unix:PATH
    Opened adopt_socket(int fd);                   // socket activation: TCP or Unix
    // listen(2), the poll, and the ready line.
    bool listen_and_announce(const Opened& opened);
    // The UDP echo on the TCP listener's address and port.
    bool start_udp(const sockaddr_storage& address);
    StreamListener* new_listener(int fd, bool tcp);  // owns fd from here on
    void accept_pending(StreamListener& listener);
    bool shed_pending(StreamListener& listener);  // EMFILE: accept and close what waits, with the reserve descriptor
    void remove_socket_files();

    uv_loop_t* loop_;
    const Config& config_;
    Stats& stats_;                                          // UDP counts datagrams here
    uv_buf_t datagrams_;                                    // one datagram at a time
    FaultContext* faults_;                                  // --fault, or nullptr
    AcceptCallback on_accept_ = nullptr;                    // each accepted connection goes here
    void* accept_data_ = nullptr;                           // ... with this
    int reserve_fd_ = -1;                                   // /dev/null, closed for a moment when out of descriptors
    std::vector<std::unique_ptr<StreamListener>> streams_;  // one per --listen address or inherited socket
    std::vector<SocketFile> socket_files_;                  // the Unix socket files to remove at close
    std::vector<std::unique_ptr<UdpSocket>> udp_;           // one per address with --udp
};

}  // namespace echod
