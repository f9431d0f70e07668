#include "echod/supervisor.h"

#include "common/address.h"
#include "common/file.h"
#include "common/log.h"
#include "echod/fault_clock.h"
#include "echod/listeners.h"
#include "echod/metrics.h"
#include "echod/metrics_http.h"
#include "echod/stats.h"
#include "echod/systemd.h"
#include "echod/worker_stats.h"

#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

namespace echod {
namespace {

using Clock = std::chrono::steady_clock;

// The signals the parent handles. They stay blocked but while ppoll()
// sleeps, which unblocks them atomically: one that comes between a check
// and the sleep is not missed. The handler only notes it.
constexpr std::array<int, 5> handled_signals = {SIGINT, SIGUSR1, SIGHUP, SIGTERM, SIGCHLD};  // handled in this order
std::array<volatile std::sig_atomic_t, NSIG> caught_signals{};

extern "C" void note_signal(int signum) {
    if (signum > 0 && signum < NSIG) {
        caught_signals[static_cast<std::size_t>(signum)] = 1;
    }
}

bool take_signal(int signum) {
    auto& caught = caught_signals[static_cast<std::size_t>(signum)];
    if (caught == 0) {
        return false;
    }
    caught = 0;
    return true;
}

struct Worker {
    pid_t pid = -1;                  // -1: not running
    Clock::time_point restart_at{};  // when a dead worker may start again
    Clock::time_point started_at{};  // for the back-off: a long life resets it
    std::chrono::milliseconds backoff{100};
    bool answered = false;  // sent its stats since the last SIGUSR1
    bool reported = false;  // this process has sent its stats at all: it serves (see Metrics::start)
};

constexpr std::chrono::milliseconds max_backoff{5000};
constexpr std::chrono::seconds stable_after{10};  // a worker that lived this long was fine
// SIGUSR1: how long the parent waits for every worker's answer, and how
// often it looks for them meanwhile.
constexpr std::chrono::seconds answer_deadline{1};
constexpr std::chrono::milliseconds answer_poll{10};

std::uint16_t bound_port(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    return common::port_of(reinterpret_cast<sockaddr*>(&address));
}

class Supervisor {
public:
    Supervisor(ConfigSource& source, const std::function<int(const Config&)>& run_worker)
        : source_(source),
          config_(source.running()),
          run_worker_(run_worker),
          workers_(config_.workers),
          totals_(config_.workers) {}
    ~Supervisor();

    int run() {
        if (!reserve_ports() || !open_report_pipe() || !start_metrics_http()) {
            stop_metrics_http();
            return 1;
        }
        block_signals();
        start_workers();
        start_reporting();
        supervise();
        finish_reporting();
        stop_metrics_http();
        common::log_notice("stopped: all {} workers exited{}", config_.workers,
                           status_ == 0 ? "" : " (not all cleanly)");
        return status_;
    }

private:
    bool reserve_ports();
    bool open_report_pipe();
    bool start_metrics_http();
    void stop_metrics_http();
    void block_signals();
    void start_workers();
    void start(Worker& w);
    void start_reporting();
    void schedule_reports();
    void reload();
    void supervise();
    void wait_for_events();
    void notify_ready_once_all_serve();
    void handle_signal(int signum);
    void reap_workers();
    void forward(int signum);
    void collect_reports();
    void report(bool log_line);
    void finish_reporting();
    Clock::time_point next_wake() const;

    ConfigSource& source_;
    Config config_;  // as given; a reload changes its live options
    const std::function<int(const Config&)>& run_worker_;
    Config worker_config_;       // what a worker starts with, a restarted one included
    std::vector<int> reserved_;  // bound, not listening: the port, kept for restarts
    int report_read_ = -1;       // the parent's end of the workers' stats pipe
    int report_write_ = -1;      // the workers' end
    sigset_t signals_{};
    sigset_t previous_mask_{};
    sigset_t wait_mask_{};  // previous_mask_ without the handled signals: ppoll's
    // --metrics-listen: the parent serves /metrics on a loop of its own, run
    // without blocking between its other waits (its backend fd is polled).
    uv_loop_t http_loop_{};
    bool http_loop_open_ = false;
    std::unique_ptr<MetricsHttp> http_;
    pid_t parent_ = ::getpid();
    std::vector<Worker> workers_;
    WorkerTotals totals_;
    std::vector<WorkerReport> received_;  // reused between reads
    bool stopping_ = false;
    bool ready_ = false;  // systemd was told READY=1: every worker served once
    int status_ = 0;
    Clock::duration interval_{};  // 0: no periodic report
    Clock::time_point next_report_{};
    Stats last_reported_;  // for the rates of the periodic line
    Clock::time_point last_reported_at_{};
    bool answer_pending_ = false;  // a SIGUSR1 line waits for the workers' answers
    Clock::time_point answer_by_{};
};

Supervisor::~Supervisor() {
    for (int fd : reserved_) {
        ::close(fd);
    }
    for (int fd : {report_read_, report_write_}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

bool Supervisor::reserve_ports() {
    // Reserve the port (the kernel's pick for --port 0) with bound but
    // non-listening SO_REUSEPORT sockets: every worker, and every restarted
    // worker, binds that same port; the reservation takes no connections.
    if (const char* pid = std::getenv("LISTEN_PID"); pid != nullptr && std::atol(pid) == ::getpid()) {
        common::log_error("--workers: not with systemd socket activation; use one echod per inherited socket");
        return false;
    }
    worker_config_ = config_;
    worker_config_.workers = 1;
    worker_config_.reuseport = true;
    for (const std::string& address : config_.listen) {
        ListenSocket socket = open_listen_socket(address, worker_config_.port, config_.reuseaddr, true);
        if (socket.fd < 0) {
            common::log_error("cannot listen on {}: {}: {} ({})", common::format_address(address, worker_config_.port),
                              socket.call, uv_strerror(socket.error), uv_err_name(socket.error));
            return false;
        }
        worker_config_.port = bound_port(socket.fd);
        reserved_.push_back(socket.fd);
    }
    return true;
}

bool Supervisor::start_metrics_http() {
    if (config_.metrics_listen.empty()) {
        return true;
    }
    // The parent serves /metrics with the sums; the workers do not serve
    // it, and report every second (a worker's stats interval is only how
    // often it sends its stats here), so the sums lag by a second at most.
    worker_config_.metrics_listen.clear();
    worker_config_.stats_interval_s = worker_stats_interval(config_);
    if (int err = uv_loop_init(&http_loop_); err != 0) {
        common::log_error("--metrics-listen: uv_loop_init: {}", uv_strerror(err));
        return false;
    }
    http_loop_open_ = true;
    http_ = std::make_unique<MetricsHttp>(&http_loop_, config_.metrics_listen, [this] {
        collect_reports();
        return format_prometheus(totals_.total());
    });
    return http_->start();
}

void Supervisor::stop_metrics_http() {
    if (!http_loop_open_) {
        return;
    }
    http_->close();
    uv_run(&http_loop_, UV_RUN_DEFAULT);  // the handles close
    http_.reset();
    if (int err = uv_loop_close(&http_loop_); err != 0) {
        common::log_error("--metrics-listen: uv_loop_close: {} (a handle was left open)", uv_strerror(err));
    }
    http_loop_open_ = false;
}

bool Supervisor::open_report_pipe() {
    // Made before fork, shared by every worker. Non-blocking at both ends:
    // a worker never waits on the parent, the parent never on a worker.
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        common::log_error("pipe: {}", std::strerror(errno));
        return false;
    }
    report_read_ = fds[0];
    report_write_ = fds[1];
    worker_config_.report_fd = report_write_;
    return true;
}

void Supervisor::block_signals() {
    // Blocked, and delivered only inside ppoll (wait_for_events), to a
    // handler that notes them; they are handled in the loop, in order.
    sigemptyset(&signals_);
    for (int s : handled_signals) {
        sigaddset(&signals_, s);
    }
    sigprocmask(SIG_BLOCK, &signals_, &previous_mask_);
    wait_mask_ = previous_mask_;
    struct sigaction action {};
    action.sa_handler = note_signal;
    action.sa_mask = signals_;
    for (int s : handled_signals) {
        sigdelset(&wait_mask_, s);
        sigaction(s, &action, nullptr);
    }
}

void Supervisor::start_workers() {
    for (Worker& w : workers_) {
        start(w);
    }
    common::log_info("{} workers started (pid {}), sharing port {}", config_.workers, ::getpid(), worker_config_.port);
}

void Supervisor::start(Worker& w) {
    pid_t pid = ::fork();
    if (pid == 0) {
#if defined(__linux__)
        // A parent killed outright (SIGKILL, OOM) must not leave workers
        // serving on: they get SIGTERM and drain. Checked once more in
        // case the parent died before this line.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent_) {
            std::_Exit(1);
        }
#endif
        for (int fd : reserved_) {
            ::close(fd);
        }
        ::close(report_read_);
        // The parent alone speaks to systemd (the unit's main PID; it says
        // READY=1 once every worker serves): a worker's notifications would
        // be refused, or, with NotifyAccess=all, taken for the server's.
        ::unsetenv("NOTIFY_SOCKET");
        if (http_) {
            // A worker holds no scraper's connection open. (The loop's own
            // pipe and eventfd stay, unused.)
            http_->close_fds_in_child();
            ::close(uv_backend_fd(&http_loop_));
        }
        struct sigaction default_action {};
        default_action.sa_handler = SIG_DFL;
        for (int s : handled_signals) {
            sigaction(s, &default_action, nullptr);  // the parent's note_signal is not the worker's
        }
        // SIGINT, SIGTERM, SIGUSR1 and SIGHUP stay blocked until the worker's own
        // handlers are in (Server::run unblocks them): one sent while the
        // worker is still starting (a restart under a stop, a slow start
        // under valgrind) waits for them instead of killing it.
        sigset_t worker_mask = previous_mask_;
        for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGHUP}) {
            sigaddset(&worker_mask, s);
        }
        sigprocmask(SIG_SETMASK, &worker_mask, nullptr);
        std::_Exit(run_worker_(worker_config_));
    }
    if (pid < 0) {
        common::log_error("fork: {}", std::strerror(errno));
        w.restart_at = Clock::now() + w.backoff;
        return;
    }
    w.pid = pid;
    w.reported = false;
    w.started_at = Clock::now();
}

void Supervisor::start_reporting() {
    // The parent, which does no echo I/O, reports for the whole server: the
    // workers send it their stats, it sums them.
    last_reported_at_ = Clock::now();
    schedule_reports();
    if (!config_.metrics_file.empty()) {
        report(false);  // the file exists from the start
    }
}

void Supervisor::schedule_reports() {
    double interval = config_.stats_interval_s;
    if (interval == 0 && !config_.metrics_file.empty()) {
        interval = default_metrics_interval_s;
    }
    interval_ = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval));
    next_report_ = Clock::now() + interval_;
}

void Supervisor::reload() {
    // The parent reads the file first: a file that does not parse is said
    // once, here, and the workers are left alone. Otherwise each worker
    // reads it again itself (a worker restarted later starts with the new
    // live options) and says it is done.
    notify_systemd_reloading();
    Reload reload = source_.reload();
    log_reload(source_.path(), reload);
    if (reload.outcome == Reload::Outcome::applied) {
        Config before = config_;
        copy_live_options(reload.config, config_);
        copy_live_options(reload.config, worker_config_);
        worker_config_.stats_interval_s = worker_stats_interval(config_);
        common::set_log_level(config_.log_level);
        if (config_.stats_interval_s != before.stats_interval_s || config_.metrics_file != before.metrics_file) {
            schedule_reports();
            if (!config_.metrics_file.empty() && config_.metrics_file != before.metrics_file) {
                report(false);  // the new file exists from now
            }
        }
        if (!same_faults(config_.faults, before.faults)) {
            announce_faults(config_.faults);
        }
        forward(SIGHUP);
    }
    if (ready_) {
        notify_systemd_or_warn("READY=1");  // before that, the first READY=1 is still to come
    }
}

Clock::time_point Supervisor::next_wake() const {
    auto wake = Clock::now() + std::chrono::seconds(3600);
    for (const Worker& w : workers_) {
        if (w.pid < 0 && !stopping_) {
            wake = std::min(wake, w.restart_at);
        }
    }
    if (interval_ > Clock::duration::zero()) {
        wake = std::min(wake, next_report_);
    }
    if (answer_pending_) {
        wake = std::min(wake, Clock::now() + answer_poll);
    }
    return wake;
}

void Supervisor::supervise() {
    for (;;) {
        bool any_running = std::any_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.pid > 0; });
        if (stopping_ && !any_running) {
            return;
        }
        wait_for_events();
        for (int signum : handled_signals) {
            if (take_signal(signum)) {
                handle_signal(signum);
            }
        }
        collect_reports();
        notify_ready_once_all_serve();
        auto now = Clock::now();
        if (answer_pending_ && (now >= answer_by_ || std::all_of(workers_.begin(), workers_.end(), [](const Worker& w) {
                                    return w.answered || w.pid < 0;
                                }))) {
            answer_pending_ = false;
            common::log_notice("{}", format_stats_line(totals_.total(), Stats{}, 0));
        }
        if (interval_ > Clock::duration::zero() && now >= next_report_) {
            report(config_.stats_interval_s > 0);
            next_report_ = now + interval_;
        }
        if (!stopping_) {
            for (Worker& w : workers_) {
                if (w.pid < 0 && now >= w.restart_at) {
                    start(w);
                }
            }
        }
    }
}

void Supervisor::wait_for_events() {
    // Sleep until a signal, a report on the pipe, a restart or a report that
    // is due, or (--metrics-listen) the HTTP loop's next event or timer.
    auto wait =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::max(next_wake() - Clock::now(), Clock::duration{}));
    std::array<pollfd, 2> fds{pollfd{report_read_, POLLIN, 0}, pollfd{-1, POLLIN, 0}};
    if (http_) {
        fds[1].fd = uv_backend_fd(&http_loop_);
        uv_update_time(&http_loop_);
        if (int ms = uv_backend_timeout(&http_loop_); ms >= 0) {
            wait = std::min<std::chrono::nanoseconds>(wait, std::chrono::milliseconds(ms));
        }
    }
    timespec timeout{static_cast<time_t>(wait.count() / 1000000000), static_cast<long>(wait.count() % 1000000000)};
    ::ppoll(fds.data(), fds.size(), &timeout, &wait_mask_);  // EINTR: a signal was noted
    if (http_) {
        uv_run(&http_loop_, UV_RUN_NOWAIT);
    }
}

void Supervisor::notify_ready_once_all_serve() {
    // Each worker sends its first stats once it listens: when all have,
    // the server is ready, once. (A worker that cannot start never says
    // so, and systemd's start timeout sees to the rest.)
    if (ready_ || stopping_ ||
        !std::all_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.reported; })) {
        return;
    }
    ready_ = true;
    notify_systemd_or_warn("READY=1");
}

void Supervisor::handle_signal(int signum) {
    if (signum == SIGCHLD) {
        reap_workers();
    } else if (signum == SIGINT || signum == SIGTERM) {
        if (stopping_) {
            status_ = 1;  // a second signal: the workers end their drain at once
        } else {
            notify_systemd_or_warn("STOPPING=1");
        }
        stopping_ = true;
        forward(signum);
    } else if (signum == SIGHUP) {
        if (stopping_) {
            common::log_info("SIGHUP while stopping: nothing reloaded");
        } else {
            reload();
        }
    } else if (signum == SIGUSR1) {
        // Each worker answers with fresh stats; the line waits for them.
        for (Worker& w : workers_) {
            w.answered = w.pid < 0;
        }
        answer_pending_ = true;
        answer_by_ = Clock::now() + answer_deadline;
        forward(signum);
    }
}

void Supervisor::reap_workers() {
    int wstatus = 0;
    pid_t pid = 0;
    while ((pid = ::waitpid(-1, &wstatus, WNOHANG)) > 0) {
        auto it = std::find_if(workers_.begin(), workers_.end(), [pid](const Worker& w) { return w.pid == pid; });
        if (it == workers_.end()) {
            continue;
        }
        // Its last reports are in the pipe by now: count them before its
        // counters retire and a successor starts from zero.
        collect_reports();
        totals_.retire(static_cast<std::size_t>(it - workers_.begin()));
        it->pid = -1;
        bool clean = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
        if (stopping_) {
            status_ = clean ? status_ : 1;
            continue;
        }
        if (Clock::now() - it->started_at >= stable_after) {
            it->backoff = std::chrono::milliseconds(100);
        }
        common::log_warn("worker {} {} {}; restarting it in {} ms", pid,
                         WIFSIGNALED(wstatus) ? "killed by signal" : "exited",
                         WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus), it->backoff.count());
        it->restart_at = Clock::now() + it->backoff;
        it->backoff = std::min(it->backoff * 2, max_backoff);
    }
}

void Supervisor::forward(int signum) {
    for (const Worker& w : workers_) {
        if (w.pid > 0) {
            ::kill(w.pid, signum);
        }
    }
}

void Supervisor::collect_reports() {
    received_.clear();
    receive_worker_reports(report_read_, received_);
    for (const WorkerReport& r : received_) {
        auto it = std::find_if(workers_.begin(), workers_.end(), [&r](const Worker& w) { return w.pid == r.pid; });
        if (it == workers_.end()) {
            continue;  // from a worker already retired
        }
        totals_.update(static_cast<std::size_t>(it - workers_.begin()), r.stats);
        it->answered = it->answered || r.asked != 0;
        it->reported = true;
    }
}

void Supervisor::report(bool log_line) {
    Stats total = totals_.total();
    if (log_line) {
        auto now = Clock::now();
        double seconds = std::chrono::duration<double>(now - last_reported_at_).count();
        common::log_notice("{}", format_stats_line(total, last_reported_, seconds));
        last_reported_ = total;
        last_reported_at_ = now;
    }
    if (!config_.metrics_file.empty()) {
        if (std::string error = common::write_file_atomically(config_.metrics_file, format_prometheus(total));
            !error.empty()) {
            common::log_warn("--metrics-file: {}: {}", config_.metrics_file, error);
        }
    }
}

void Supervisor::finish_reporting() {
    collect_reports();
    if (!config_.metrics_file.empty()) {
        report(false);  // the final figures
    }
}

}  // namespace

int run_workers(ConfigSource& source, const std::function<int(const Config&)>& run_worker) {
    return Supervisor(source, run_worker).run();
}

}  // namespace echod
