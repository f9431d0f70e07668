// libuv helpers. A handle or request carries its owner in `data`
// (`handle.data = this`, as uvw does); callbacks get it back with owner_of;
// as_handle and as_stream give a handle the base type libuv calls take.
#pragma once

#include <uv.h>

namespace common {

// The owner that handle_or_request->data points to.
template <typename Owner, typename HandleOrRequest>
Owner* owner_of(const HandleOrRequest* handle_or_request) {
    return static_cast<Owner*>(handle_or_request->data);
}

// A handle as the base types libuv's functions take.
template <typename Handle>
uv_handle_t* as_handle(Handle* handle) {
    return reinterpret_cast<uv_handle_t*>(handle);
}
template <typename Handle>
uv_stream_t* as_stream(Handle* handle) {
    return reinterpret_cast<uv_stream_t*>(handle);
}

}  // namespace common
