#include "echod/server.h"

#include "common/log.h"
#include "common/parse.h"
#include "common/uv_owner.h"
#include "echod/systemd.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>

namespace echod {
namespace {

// Server handles (listeners included) are owned by the Server, which
// outlives the loop's run: nothing to free when they close.
void on_own_handle_closed(uv_handle_t* /*handle*/) {}

const char* signal_name(int signum) {
    switch (signum) {
        case SIGINT:
            return "SIGINT";
        case SIGTERM:
            return "SIGTERM";
        case SIGUSR1:
            return "SIGUSR1";
        default:
            return "signal";
    }
}

std::uint64_t to_ms(double seconds) {
    return static_cast<std::uint64_t>(seconds * 1000);
}

}  // namespace

Server::Server(uv_loop_t* loop, const Config& config, ConfigSource& source)
    : loop_(loop),
      source_(source),
      config_(config),
      faults_(config.faults.any() ? std::make_unique<FaultContext>(loop_, config.faults) : nullptr),
      proxy_(config.proxy_protocol ? std::make_unique<ProxyContext>(loop_) : nullptr),
      context_(loop_, config.buffer_size, rings_in_budget(config.buffer_size, config.max_buffer_memory),
               uv_buf_init(scratch_.data(), scratch_.size()), [this] { stop_if_drained(); }),
      listeners_(loop_, config_, context_.stats, uv_buf_init(scratch_.data(), scratch_.size()), faults_.get()),
      metrics_(loop_, config_, [this] { return snapshot(); }) {
    context_.faults = faults_.get();
    context_.proxy = proxy_.get();
    if (!config_.metrics_listen.empty()) {
        metrics_http_ = std::make_unique<MetricsHttp>(loop_, config_.metrics_listen,
                                                      [this] { return format_prometheus(snapshot()); });
    }
}

int Server::run() {
    init_handles();
    // Signals first: a script may send SIGTERM the moment it reads the ready
    // line, and that must drain, not kill.
    handle_signals();
    // The metrics line before the ready line: a script that waits for the
    // ready line has both.
    if ((metrics_http_ && !metrics_http_->start()) || !listeners_.start(on_connection, this)) {
        return fail_start();
    }
    if (proxy_) {
        common::log_info("--proxy-protocol: every connection must start with a PROXY header (v1 or v2)");
    }
    notify_ready();
    start_idle_sweep();
    metrics_.start();
    uv_run(loop_, UV_RUN_DEFAULT);
    metrics_.finish();
    log_summary();
    return exit_status_;
}

void Server::init_handles() {
    // Every handle is initialised up front, so that every exit path closes
    // the same set.
    uv_signal_init(loop_, &sigint_);
    uv_signal_init(loop_, &sigterm_);
    uv_signal_init(loop_, &sigusr1_);
    uv_signal_init(loop_, &sighup_);
    uv_timer_init(loop_, &drain_timer_);
    uv_timer_init(loop_, &idle_timer_);
    sigint_.data = sigterm_.data = sigusr1_.data = sighup_.data = this;
    drain_timer_.data = idle_timer_.data = this;
}

void Server::handle_signals() {
    uv_signal_start(&sigint_, on_signal, SIGINT);
    uv_signal_start(&sigterm_, on_signal, SIGTERM);
    uv_signal_start(&sigusr1_, on_signal, SIGUSR1);
    uv_signal_start(&sighup_, on_signal, SIGHUP);
    // A --workers worker starts with these blocked (supervisor.cpp); now that
    // they are handled, one that came early is delivered, as a drain.
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGHUP}) {
        sigaddset(&handled, s);
    }
    sigprocmask(SIG_UNBLOCK, &handled, nullptr);
}

int Server::fail_start() {
    exit_status_ = 1;
    close_own_handles();
    uv_run(loop_, UV_RUN_DEFAULT);  // lets the handles close
    return exit_status_;
}

void Server::notify_ready() {
    notify_systemd_or_warn("READY=1");
    state_ = State::serving;
}

void Server::start_idle_sweep() {
    uv_timer_stop(&idle_timer_);
    // 0 stops the sweep; a timeout turned on by a reload counts from now.
    context_.connections.set_idle_timeout(
        config_.idle_timeout_s > 0 ? std::max<std::uint64_t>(1, to_ms(config_.idle_timeout_s)) : 0, uv_now(loop_));
    if (config_.idle_timeout_s > 0) {
        // One timer for all connections, ticking at a tenth of the timeout
        // (10 ms..1 s): a connection goes at most one tick late.
        std::uint64_t tick = std::clamp<std::uint64_t>(context_.connections.idle_timeout_ms() / 10, 10, 1000);
        uv_timer_start(&idle_timer_, on_idle_check, tick, tick);
    }
}

void Server::log_summary() {
    std::string extra;
    if (context_.stats.refused != 0) {
        extra += fmt::format(", {} refused over --max-connections", context_.stats.refused);
    }
    if (context_.stats.closed_idle != 0) {
        extra += fmt::format(", {} closed idle", context_.stats.closed_idle);
    }
    if (context_.stats.drain_cut_short != 0) {
        extra += fmt::format(", {} closed at the drain deadline", context_.stats.drain_cut_short);
    }
    common::log_notice("stopped: {} connections served, {} bytes echoed{}", context_.stats.accepted,
                       context_.stats.bytes_out, extra);
}

void Server::on_connection(void* data, int fd, bool tcp, int error) {
    Server* self = static_cast<Server*>(data);
    if (fd < 0) {
        // Out of descriptors the listener accepted and closed what was
        // pending (one UV_EMFILE each), so the loop does not spin; this and
        // anything else is logged at most once a second. Served connections
        // carry on either way.
        ++self->context_.stats.accept_errors;
        if (self->accept_warnings_.allow(uv_now(self->loop_))) {
            common::log_warn("accept: {} ({}); {} connections open, {} accept errors so far", uv_strerror(error),
                             uv_err_name(error), self->context_.stats.connections, self->context_.stats.accept_errors);
        }
        return;
    }
    if (self->state_ != State::serving) {
        ::close(fd);  // cannot happen: the listeners close as the drain begins
        return;
    }
    if (self->context_.stats.connections >= self->config_.max_connections) {
        self->refuse(fd);
        return;
    }
    Connection::accept(self->context_, fd, tcp);
}

void Server::refuse(int fd) {
    // Accepted and closed at once, rather than left in the backlog: the
    // client learns now, and served connections are not slowed down. Said
    // first: by the time the client sees the close, the line is written.
    ++context_.stats.refused;
    if (refuse_warnings_.allow(uv_now(loop_))) {
        common::log_warn("--max-connections {} reached: refusing new connections ({} refused so far)",
                         config_.max_connections, context_.stats.refused);
    }
    ::close(fd);
}

void Server::on_idle_check(uv_timer_t* timer) {
    Server* self = common::owner_of<Server>(timer);
    // Closing connections stay listed until their close callback: skip them.
    self->context_.connections.sweep(uv_now(self->loop_), [self](ConnectionList::Node& node, std::uint64_t idle_ms) {
        auto& c = static_cast<Connection&>(node);
        if (c.output_progressed()) {
            return true;  // still moving bytes: active now
        }
        if (!c.closing()) {
            common::log_debug("closing a connection idle for {} ms", idle_ms);
            ++self->context_.stats.closed_idle;
            c.close();
        }
        return false;
    });
}

Stats Server::snapshot() const {
    Stats now = context_.stats;
    now.rings_in_use = context_.rings.in_use();
    now.rings_pooled = context_.rings.pooled();
    now.ring_bytes = context_.rings.ring_capacity();
    now.rings_waiting = context_.ring_waiters.size();
    now.ring_budget = config_.max_buffer_memory;
    return now;
}

void Server::on_signal(uv_signal_t* handle, int signum) {
    Server* self = common::owner_of<Server>(handle);
    if (signum == SIGUSR1) {
        self->metrics_.report_now();
        return;
    }
    if (signum == SIGHUP) {
        if (self->state_ == State::serving) {
            self->reload();
        } else {
            common::log_info("SIGHUP while stopping: nothing reloaded");
        }
        return;
    }
    if (self->state_ == State::serving) {
        self->begin_drain(signum);
        return;
    }
    common::log_warn("{} again: closing {} now", signal_name(signum),
                     common::plural(self->context_.stats.connections, "connection"));
    self->exit_status_ = 1;
    self->close_connections();
}

void Server::reload() {
    // A --workers worker: its parent read the file first, said what
    // changed, and speaks to systemd; the worker says only that it is done
    // (or, should the file have changed again since, what is wrong).
    bool worker = config_.report_fd >= 0;
    if (!worker) {
        notify_systemd_reloading();
    }
    Reload reload = source_.reload();
    if (!worker) {
        log_reload(source_.path(), reload);
    } else if (reload.outcome == Reload::Outcome::failed) {
        common::log_error("worker {}: {}", uv_os_getpid(), failed_line(reload));
    } else if (reload.outcome == Reload::Outcome::applied) {
        common::log_notice("worker {}: reloaded {}", uv_os_getpid(),
                           common::printable(source_.path(), common::max_quoted_path));
    }
    if (reload.outcome == Reload::Outcome::applied) {
        apply_live_options(reload.config);
    }
    if (!worker) {
        notify_systemd_or_warn("READY=1");
    }
}

void Server::apply_live_options(const Config& next) {
    Config before = config_;
    copy_live_options(next, config_);
    if (config_.report_fd >= 0) {
        // A worker's interval is how often it reports to the parent.
        config_.stats_interval_s = worker_stats_interval(next);
    }
    common::set_log_level(config_.log_level);
    // max_connections and shutdown_timeout_s are read where they are used.
    if (config_.idle_timeout_s != before.idle_timeout_s) {
        start_idle_sweep();
    }
    if (config_.stats_interval_s != before.stats_interval_s || config_.metrics_file != before.metrics_file) {
        metrics_.restart();
    }
    if (!same_faults(config_.faults, before.faults)) {
        // Connections accepted from now on draw the new faults; those open
        // keep what they drew. The context, once made, stays: connections
        // that drew faults refer to it.
        if (faults_) {
            faults_->replace(config_.faults);
        } else if (config_.faults.any()) {
            faults_ = std::make_unique<FaultContext>(loop_, config_.faults);
            context_.faults = faults_.get();
        }
        if (config_.report_fd < 0) {
            announce_faults(config_.faults);
        }
    }
}

void Server::begin_drain(int signum) {
    common::log_info("{}: draining {} (up to {:g} s; signal again to stop now)", signal_name(signum),
                     common::plural(context_.stats.connections, "connection"), config_.shutdown_timeout_s);
    state_ = State::draining;
    notify_systemd_or_warn("STOPPING=1");
    uv_timer_stop(&idle_timer_);  // the drain has its own deadline
    listeners_.close();
    context_.connections.for_each([](ConnectionList::Node& c) { static_cast<Connection&>(c).begin_drain(); });
    uv_timer_start(&drain_timer_, on_drain_timeout, to_ms(config_.shutdown_timeout_s), 0);
    stop_if_drained();
}

void Server::on_drain_timeout(uv_timer_t* timer) {
    Server* self = common::owner_of<Server>(timer);
    common::log_warn("drain deadline: closing {} still open",
                     common::plural(self->context_.stats.connections, "connection"));
    self->context_.stats.drain_cut_short += self->context_.stats.connections;
    self->close_connections();
}

void Server::close_connections() {
    // close() only schedules the close; the list changes in on_close.
    context_.connections.for_each([](ConnectionList::Node& c) { static_cast<Connection&>(c).close(); });
    stop_if_drained();
}

void Server::stop_if_drained() {
    if (state_ == State::draining && context_.stats.connections == 0) {
        state_ = State::stopping;
        close_own_handles();
    }
}

void Server::close_own_handles() {
    listeners_.close();
    metrics_.close();
    if (metrics_http_) {
        metrics_http_->close();
    }
    if (faults_) {
        faults_->clock.close();
    }
    if (proxy_) {
        proxy_->deadlines.close();
    }
    for (uv_handle_t* handle :
         {common::as_handle(&sigint_), common::as_handle(&sigterm_), common::as_handle(&sigusr1_),
          common::as_handle(&sighup_), common::as_handle(&drain_timer_), common::as_handle(&idle_timer_)}) {
        if (!uv_is_closing(handle)) {
            uv_close(handle, on_own_handle_closed);
        }
    }
}

}  // namespace echod
