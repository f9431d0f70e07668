#include "echod/metrics_http.h"

#include "common/address.h"
#include "common/log.h"
#include "common/uv_owner.h"
#include "echod/listeners.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <utility>

namespace echod {
namespace {

constexpr int http_backlog = 128;

// The listener is a member: nothing to free when it closes.
void on_listener_closed(uv_handle_t* /*handle*/) {}

void close_fd_of(const uv_handle_t* handle) {
    uv_os_fd_t fd = -1;
    if (uv_fileno(handle, &fd) == 0) {
        ::close(fd);
    }
}

}  // namespace

// One HTTP connection: read a request head into head_, answer, then the next
// request (keep-alive) or the end (lingering, then close).
class MetricsHttp::Client {
public:
    explicit Client(MetricsHttp& server) : server_(server) {
        uv_tcp_init(server_.loop_, &tcp_);
        uv_timer_init(server_.loop_, &timer_);
        tcp_.data = timer_.data = write_.data = shutdown_.data = this;
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Accepts from listener and starts reading; false if that failed (the
    // client is closing then).
    bool start(uv_stream_t* listener) {
        int err = uv_accept(listener, common::as_stream(&tcp_));
        if (err == 0) {
            uv_tcp_nodelay(&tcp_, 1);
            err = uv_read_start(common::as_stream(&tcp_), on_alloc, on_read);
        }
        if (err != 0) {
            common::log_debug("metrics: accept: {}", uv_strerror(err));
            close();
            return false;
        }
        uv_timer_start(&timer_, on_deadline, http_deadline_ms, 0);
        return true;
    }

    // Both handles; the client is freed when both have closed. Idempotent.
    void close() {
        if (state_ == State::closing) {
            return;
        }
        state_ = State::closing;
        uv_close(common::as_handle(&tcp_), on_close);  // cancels a write or shutdown in flight
        uv_close(common::as_handle(&timer_), on_close);
    }

    const uv_tcp_t& tcp() const { return tcp_; }

private:
    enum class State {
        reading,    // a request head arrives
        writing,    // its answer goes out; nothing is read meanwhile
        lingering,  // the last answer is out and our side shut: input dropped until EOF
        closing,    // handles closing
    };

    static void on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
        Client* self = common::owner_of<Client>(handle);
        if (self->state_ == State::reading) {
            // Never full here: a full head without its end is answered 431.
            *buf = uv_buf_init(self->head_.data() + self->received_,
                               static_cast<unsigned>(self->head_.size() - self->received_));
        } else {
            *buf = uv_buf_init(self->head_.data(), static_cast<unsigned>(self->head_.size()));  // dropped
        }
    }

    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
        Client* self = common::owner_of<Client>(stream);
        if (nread < 0) {
            self->close();  // EOF or an error: a partial request gets no answer
            return;
        }
        if (nread == 0 || self->state_ != State::reading) {
            return;
        }
        self->received_ += static_cast<std::size_t>(nread);
        self->handle_request();
    }

    // Answers the request in head_ once it is whole (or bad).
    void handle_request() {
        HttpVerdict verdict = reader_.read(std::string_view(head_.data(), received_));
        if (verdict.kind == HttpVerdict::Kind::incomplete) {
            return;
        }
        HttpResponse response;
        std::string body;
        std::string date = http_date(std::time(nullptr));
        response.date = date;
        if (verdict.kind == HttpVerdict::Kind::bad) {
            common::log_debug("metrics: {} from {}: {}", verdict.status, peer(), verdict.reason);
            body = verdict.reason + "\n";
            response.status = verdict.status;
            response.close = true;
        } else {
            const HttpRequest& request = verdict.request;
            response.status = metrics_status(request);
            if (response.status == 200) {
                body = server_.metrics_();
                response.content_type = prometheus_content_type;
            } else {
                body = response.status == 404 ? "not found: echod serves /metrics only\n"
                                              : "method not allowed: GET or HEAD only\n";
            }
            response.head_only = request.method == HttpMethod::head;
            response.close = !request.keep_alive;
            consumed_ = request.head_length;
        }
        response.body = body;
        respond(format_http_response(response), response.close);
    }

    void respond(std::string response, bool close_after) {
        state_ = State::writing;
        uv_read_stop(common::as_stream(&tcp_));  // one request at a time: the next waits in the kernel
        response_ = std::move(response);
        close_after_write_ = close_after;
        uv_buf_t buf = uv_buf_init(response_.data(), static_cast<unsigned>(response_.size()));
        if (uv_write(&write_, common::as_stream(&tcp_), &buf, 1, after_write) != 0) {
            close();
        }
    }

    static void after_write(uv_write_t* req, int status) {
        Client* self = common::owner_of<Client>(req);
        if (self->state_ == State::closing) {
            return;  // cancelled by close()
        }
        if (status != 0) {
            self->close();
            return;
        }
        self->response_ = std::string();  // its memory back until the next answer
        if (self->close_after_write_) {
            self->linger();
            return;
        }
        self->next_request();
    }

    // Keep-alive: bytes after the answered head (a pipelined request) move
    // to the front, and the next request has a deadline of its own.
    void next_request() {
        std::memmove(head_.data(), head_.data() + consumed_, received_ - consumed_);
        received_ -= consumed_;
        consumed_ = 0;
        reader_.reset();
        state_ = State::reading;
        uv_timer_start(&timer_, on_deadline, http_deadline_ms, 0);
        if (uv_read_start(common::as_stream(&tcp_), on_alloc, on_read) != 0) {
            close();
            return;
        }
        if (received_ > 0) {
            handle_request();
        }
    }

    void linger() {
        state_ = State::lingering;
        uv_timer_start(&timer_, on_deadline, http_linger_ms, 0);
        if (uv_shutdown(&shutdown_, common::as_stream(&tcp_), after_shutdown) != 0 ||
            uv_read_start(common::as_stream(&tcp_), on_alloc, on_read) != 0) {
            close();
        }
    }

    static void after_shutdown(uv_shutdown_t* req, int status) {
        Client* self = common::owner_of<Client>(req);
        if (status != 0 && self->state_ != State::closing) {
            self->close();
        }
        // Else the peer's EOF, or the linger deadline, closes.
    }

    static void on_deadline(uv_timer_t* timer) {
        Client* self = common::owner_of<Client>(timer);
        if (self->state_ == State::reading && self->received_ > 0) {
            // Part of a request came, too slowly: say so, briefly.
            common::log_debug("metrics: 408 from {}: request not complete within {} ms", self->peer(),
                              http_deadline_ms);
            uv_timer_start(&self->timer_, on_deadline, http_linger_ms, 0);  // bounds this write
            HttpResponse response;
            response.status = 408;
            response.close = true;
            self->respond(format_http_response(response), true);
            return;
        }
        self->close();  // idle, a peer that does not read its answer, or the linger's end
    }

    static void on_close(uv_handle_t* handle) {
        Client* self = common::owner_of<Client>(handle);
        if (--self->open_handles_ == 0) {
            self->server_.forget(self);
            delete self;
        }
    }

    std::string peer() const {
        sockaddr_storage address{};
        int length = sizeof address;
        if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            return "?";
        }
        return common::format_address(reinterpret_cast<const sockaddr*>(&address));
    }

    MetricsHttp& server_;
    uv_tcp_t tcp_{};
    uv_timer_t timer_{};  // the request's deadline, or the linger's
    uv_write_t write_{};
    uv_shutdown_t shutdown_{};
    State state_ = State::reading;
    int open_handles_ = 2;  // tcp_ and timer_
    bool close_after_write_ = false;
    HttpRequestReader reader_;
    std::size_t received_ = 0;  // bytes in head_
    std::size_t consumed_ = 0;  // the answered request's head, dropped once its answer is out
    std::string response_;      // the answer being written
    std::array<char, max_http_head> head_{};
};

MetricsHttp::MetricsHttp(uv_loop_t* loop, std::string address, std::function<std::string()> metrics)
    : loop_(loop), address_(std::move(address)), metrics_(std::move(metrics)) {}

bool MetricsHttp::start() {
    uv_tcp_init(loop_, &listener_);
    listener_.data = this;
    listener_initialized_ = true;
    auto parsed = common::parse_address_and_port(address_);
    const auto* where = std::get_if<common::AddressAndPort>(&parsed);
    if (where == nullptr) {
        common::log_error("--metrics-listen: {}", std::get<common::ParseError>(parsed).reason);  // checked before
        return false;
    }
    ListenSocket socket = open_listen_socket(where->literal, where->port, true);
    int err = socket.error;
    const char* call = socket.call;
    if (err == 0) {
        err = uv_tcp_open(&listener_, socket.fd);
        call = "uv_tcp_open";
        if (err != 0) {
            ::close(socket.fd);
        }
    }
    if (err == 0) {
        err = uv_listen(common::as_stream(&listener_), http_backlog, on_connection);
        call = "listen";
    }
    if (err != 0) {
        common::log_error("--metrics-listen: cannot listen on {}: {}: {} ({})",
                          common::format_address(where->literal, where->port), call, uv_strerror(err),
                          uv_err_name(err));
        return false;
    }
    sockaddr_storage bound{};
    int length = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &length);
    common::log_notice("metrics on http://{}/metrics", common::format_address(reinterpret_cast<sockaddr*>(&bound)));
    return true;
}

void MetricsHttp::on_connection(uv_stream_t* listener, int status) {
    MetricsHttp* self = common::owner_of<MetricsHttp>(listener);
    if (status != 0) {
        common::log_debug("metrics: accept: {} ({})", uv_strerror(status), uv_err_name(status));
        return;
    }
    if (self->closed_) {
        return;
    }
    if (self->clients_.size() >= max_http_clients) {
        self->refuse();
        return;
    }
    auto* client = new Client(*self);  // freed in its close callback
    self->clients_.push_back(client);
    client->start(listener);
}

void MetricsHttp::refuse() {
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(loop_, tcp);
    uv_accept(common::as_stream(&listener_), common::as_stream(tcp));
    uv_close(common::as_handle(tcp), [](uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); });
    if (refuse_warnings_.allow(uv_now(loop_))) {
        common::log_warn("metrics: {} HTTP connections open: refusing more", max_http_clients);
    }
}

void MetricsHttp::forget(Client* client) {
    clients_.erase(std::remove(clients_.begin(), clients_.end(), client), clients_.end());
}

void MetricsHttp::close() {
    closed_ = true;
    if (listener_initialized_ && !uv_is_closing(common::as_handle(&listener_))) {
        uv_close(common::as_handle(&listener_), on_listener_closed);
    }
    for (Client* client : clients_) {
        client->close();  // each leaves clients_ in its close callback, later
    }
}

void MetricsHttp::close_fds_in_child() const {
    if (listener_initialized_) {
        close_fd_of(reinterpret_cast<const uv_handle_t*>(&listener_));
    }
    for (const Client* client : clients_) {
        close_fd_of(reinterpret_cast<const uv_handle_t*>(&client->tcp()));
    }
}

}  // namespace echod
