#include "echod/supervisor.h"

#include "common/address.h"
#include "common/file.h"
#include "common/log.h"
#include "echod/listeners.h"
#include "echod/stats.h"
#include "echod/worker_stats.h"

#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

namespace echod {
namespace {

using Clock = std::chrono::steady_clock;

struct Worker {
    pid_t pid = -1;                  // -1: not running
    Clock::time_point restart_at{};  // when a dead worker may start again
    Clock::time_point started_at{};  // for the back-off: a long life resets it
    std::chrono::milliseconds backoff{100};
    bool answered = false;  // sent its stats since the last SIGUSR1
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
    Supervisor(const Config& config, const std::function<int(const Config&)>& run_worker)
        : config_(config), run_worker_(run_worker), workers_(config.workers), totals_(config.workers) {}
    ~Supervisor();

    int run() {
        if (!reserve_ports() || !open_report_pipe()) {
            return 1;
        }
        block_signals();
        start_workers();
        start_reporting();
        supervise();
        finish_reporting();
        common::log_notice("stopped: all {} workers exited{}", config_.workers,
                           status_ == 0 ? "" : " (not all cleanly)");
        return status_;
    }

private:
    bool reserve_ports();
    bool open_report_pipe();
    void block_signals();
    void start_workers();
    void start(Worker& w);
    void start_reporting();
    void supervise();
    void reap_workers();
    void forward(int signum);
    void collect_reports();
    void report(bool log_line);
    void finish_reporting();
    Clock::time_point next_wake() const;

    const Config& config_;
    const std::function<int(const Config&)>& run_worker_;
    Config worker_config_;
    std::vector<int> reserved_;  // bound, not listening: the port, kept for restarts
    int report_read_ = -1;       // the parent's end of the workers' stats pipe
    int report_write_ = -1;      // the workers' end
    sigset_t signals_{};
    sigset_t previous_mask_{};
    pid_t parent_ = ::getpid();
    std::vector<Worker> workers_;
    WorkerTotals totals_;
    std::vector<WorkerReport> received_;  // reused between reads
    bool stopping_ = false;
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
    // Signals are taken synchronously (sigtimedwait), never by a handler.
    sigemptyset(&signals_);
    for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGCHLD}) {
        sigaddset(&signals_, s);
    }
    sigprocmask(SIG_BLOCK, &signals_, &previous_mask_);
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
        // SIGINT, SIGTERM and SIGUSR1 stay blocked until the worker's own
        // handlers are in (Server::run unblocks them): one sent while the
        // worker is still starting (a restart under a stop, a slow start
        // under valgrind) waits for them instead of killing it.
        sigset_t worker_mask = previous_mask_;
        for (int s : {SIGINT, SIGTERM, SIGUSR1}) {
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
    w.started_at = Clock::now();
}

void Supervisor::start_reporting() {
    // The parent, which does no echo I/O, reports for the whole server: the
    // workers send it their stats, it sums them.
    double interval = config_.stats_interval_s;
    if (interval == 0 && !config_.metrics_file.empty()) {
        interval = default_metrics_interval_s;
    }
    interval_ = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval));
    last_reported_at_ = Clock::now();
    next_report_ = last_reported_at_ + interval_;
    if (!config_.metrics_file.empty()) {
        report(false);  // the file exists from the start
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
        // Sleep until a signal, a restart or a report that is due.
        auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::max(next_wake() - Clock::now(), Clock::duration{}));
        timespec timeout{static_cast<time_t>(wait.count() / 1000000000), static_cast<long>(wait.count() % 1000000000)};
        int signum = sigtimedwait(&signals_, nullptr, &timeout);

        if (signum == SIGCHLD) {
            reap_workers();
        } else if (signum == SIGINT || signum == SIGTERM) {
            if (stopping_) {
                status_ = 1;  // a second signal: the workers end their drain at once
            }
            stopping_ = true;
            forward(signum);
        } else if (signum == SIGUSR1) {
            // Each worker answers with fresh stats; the line waits for them.
            for (Worker& w : workers_) {
                w.answered = w.pid < 0;
            }
            answer_pending_ = true;
            answer_by_ = Clock::now() + answer_deadline;
            forward(signum);
        }
        collect_reports();
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

int run_workers(const Config& config, const std::function<int(const Config&)>& run_worker) {
    return Supervisor(config, run_worker).run();
}

}  // namespace echod
