// libuv helpers for a stream socket that is TCP or Unix: libuv has a handle
// type for each (uv_tcp_t, uv_pipe_t), and everything that reads and writes
// goes through uv_stream_t, so the rest of the code need not care which.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <uv.h>

namespace common {

// One stream socket's handle, either kind; libuv keeps its address.
union StreamSocket {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
};

// uv_pipe_init for a Unix socket, uv_tcp_init otherwise (no socket yet:
// connect or accept makes it). Neither can fail; from here on the handle
// exists and must be closed.
inline void init_stream_socket(uv_loop_t* loop, StreamSocket& socket, bool local) {
    if (local) {
        uv_pipe_init(loop, &socket.pipe, 0);
    } else {
        uv_tcp_init(loop, &socket.tcp);
    }
}

inline uv_stream_t* as_stream(StreamSocket& socket) {
    return reinterpret_cast<uv_stream_t*>(&socket);
}

inline uv_handle_t* as_handle(StreamSocket& socket) {
    return reinterpret_cast<uv_handle_t*>(&socket);
}

// uv_tcp_connect, or uv_pipe_connect to an AF_UNIX address's path. A
// Unix socket's errors (ENOENT, ECONNREFUSED, EAGAIN when the listener's
// backlog is full) come to cb alone: 0 here.
inline int connect_stream(uv_connect_t* req, StreamSocket& socket, const sockaddr* address, uv_connect_cb cb) {
    if (address->sa_family == AF_UNIX) {
        uv_pipe_connect(req, &socket.pipe, reinterpret_cast<const sockaddr_un*>(address)->sun_path, cb);
        return 0;
    }
    return uv_tcp_connect(req, &socket.tcp, address, cb);
}

// TCP_NODELAY (echo latency matters more than packet count); a Unix socket
// has no Nagle to turn off.
inline void set_nodelay(StreamSocket& socket) {
    if (socket.tcp.type == UV_TCP) {
        uv_tcp_nodelay(&socket.tcp, 1);
    }
}

}  // namespace common
