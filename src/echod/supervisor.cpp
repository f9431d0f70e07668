#include "echod/supervisor.h"

#include "common/address.h"
#include "common/log.h"
#include "echod/listeners.h"

#if defined(__linux__)
#include <sys/prctl.h>
#endif
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
};

constexpr std::chrono::milliseconds max_backoff{5000};
constexpr std::chrono::seconds stable_after{10};  // a worker that lived this long was fine

std::uint16_t bound_port(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    return common::port_of(reinterpret_cast<sockaddr*>(&address));
}

}  // namespace

int run_workers(const Config& config, const std::function<int(const Config&)>& run_worker) {
    // Reserve the port (the kernel's pick for --port 0) with bound but
    // non-listening SO_REUSEPORT sockets: every worker, and every restarted
    // worker, binds that same port; the reservation takes no connections.
    if (const char* pid = std::getenv("LISTEN_PID"); pid != nullptr && std::atol(pid) == ::getpid()) {
        common::log_error("--workers: not with systemd socket activation; use one echod per inherited socket");
        return 1;
    }
    Config worker_config = config;
    worker_config.workers = 1;
    worker_config.reuseport = true;
    std::vector<int> reserved;
    for (const std::string& address : config.listen) {
        ListenSocket socket = open_listen_socket(address, worker_config.port, config.reuseaddr, true);
        if (socket.fd < 0) {
            common::log_error("cannot listen on {}: {}: {} ({})", common::format_address(address, worker_config.port),
                              socket.call, uv_strerror(socket.error), uv_err_name(socket.error));
            for (int fd : reserved) {
                ::close(fd);
            }
            return 1;
        }
        worker_config.port = bound_port(socket.fd);
        reserved.push_back(socket.fd);
    }

    // Signals are taken synchronously (sigtimedwait), never by a handler.
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGCHLD}) {
        sigaddset(&signals, s);
    }
    sigset_t previous;
    sigprocmask(SIG_BLOCK, &signals, &previous);

    std::vector<Worker> workers(config.workers);
    const pid_t parent = ::getpid();
    auto start = [&](Worker& w) {
        pid_t pid = ::fork();
        if (pid == 0) {
#if defined(__linux__)
            // A parent killed outright (SIGKILL, OOM) must not leave workers
            // serving on: they get SIGTERM and drain. Checked once more in
            // case the parent died before this line.
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (::getppid() != parent) {
                std::_Exit(1);
            }
#endif
            for (int fd : reserved) {
                ::close(fd);
            }
            // SIGINT, SIGTERM and SIGUSR1 stay blocked until the worker's own
            // handlers are in (Server::run unblocks them): one sent while the
            // worker is still starting (a restart under a stop, a slow start
            // under valgrind) waits for them instead of killing it.
            sigset_t worker_mask = previous;
            for (int s : {SIGINT, SIGTERM, SIGUSR1}) {
                sigaddset(&worker_mask, s);
            }
            sigprocmask(SIG_SETMASK, &worker_mask, nullptr);
            std::_Exit(run_worker(worker_config));
        }
        if (pid < 0) {
            common::log_error("fork: {}", std::strerror(errno));
            w.restart_at = Clock::now() + w.backoff;
            return;
        }
        w.pid = pid;
        w.started_at = Clock::now();
    };
    for (Worker& w : workers) {
        start(w);
    }
    common::log_info("{} workers started (pid {}), sharing port {}", config.workers, ::getpid(), worker_config.port);

    bool stopping = false;
    int status = 0;
    auto forward = [&](int signum) {
        for (const Worker& w : workers) {
            if (w.pid > 0) {
                ::kill(w.pid, signum);
            }
        }
    };
    for (;;) {
        bool any_running = std::any_of(workers.begin(), workers.end(), [](const Worker& w) { return w.pid > 0; });
        if (stopping && !any_running) {
            break;
        }
        // Sleep until a signal, or the next restart that is due.
        auto now = Clock::now();
        auto wake = now + std::chrono::seconds(3600);
        for (const Worker& w : workers) {
            if (w.pid < 0 && !stopping) {
                wake = std::min(wake, w.restart_at);
            }
        }
        auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(std::max(wake - now, Clock::duration{}));
        timespec timeout{static_cast<time_t>(wait.count() / 1000000000), static_cast<long>(wait.count() % 1000000000)};
        int signum = sigtimedwait(&signals, nullptr, &timeout);

        if (signum == SIGCHLD) {
            int wstatus = 0;
            pid_t pid = 0;
            while ((pid = ::waitpid(-1, &wstatus, WNOHANG)) > 0) {
                auto it = std::find_if(workers.begin(), workers.end(), [pid](const Worker& w) { return w.pid == pid; });
                if (it == workers.end()) {
                    continue;
                }
                it->pid = -1;
                bool clean = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
                if (stopping) {
                    status = clean ? status : 1;
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
        } else if (signum == SIGINT || signum == SIGTERM) {
            if (stopping) {
                status = 1;  // a second signal: the workers end their drain at once
            }
            stopping = true;
            forward(signum);
        } else if (signum == SIGUSR1) {
            forward(signum);
        }
        if (!stopping) {
            for (Worker& w : workers) {
                if (w.pid < 0 && Clock::now() >= w.restart_at) {
                    start(w);
                }
            }
        }
    }
    for (int fd : reserved) {
        ::close(fd);
    }
    common::log_notice("stopped: all {} workers exited{}", config.workers, status == 0 ? "" : " (not all cleanly)");
    return status;
}

}  // namespace echod
