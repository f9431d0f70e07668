// libuv helpers. A handle or request carries its owner in `data`
// (`handle.data = this`, as uvw does); callbacks get it back with owner_of.
#pragma once

namespace common {

// The owner that handle_or_request->data points to.
template <typename Owner, typename HandleOrRequest>
Owner* owner_of(const HandleOrRequest* handle_or_request) {
    return static_cast<Owner*>(handle_or_request->data);
}

}  // namespace common
