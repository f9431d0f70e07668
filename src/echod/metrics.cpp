#include "echod/metrics.h"

#include "common/file.h"
#include "common/log.h"
#include "common/uv_owner.h"
#include "echod/worker_stats.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

namespace echod {

double worker_stats_interval(const Config& given) {
    if (!given.metrics_listen.empty() && (given.stats_interval_s == 0 || given.stats_interval_s > 1)) {
        return 1;
    }
    return given.stats_interval_s;
}

Metrics::Metrics(uv_loop_t* loop, const Config& config, std::function<Stats()> snapshot)
    : loop_(loop), config_(config), snapshot_(std::move(snapshot)) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
}

void Metrics::start() {
    double interval = config_.stats_interval_s;
    if (interval == 0 && !config_.metrics_file.empty()) {
        interval = default_metrics_interval_s;
    }
    if (interval > 0) {
        auto ms = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(interval * 1000));
        uv_timer_start(&timer_, on_tick, ms, ms);
    }
    last_reported_ms_ = uv_now(loop_);
    if (config_.report_fd >= 0) {
        // A worker's first stats, as it starts serving: the parent tells
        // systemd READY=1 once every worker has sent some.
        send_to_parent(false);
    } else if (!config_.metrics_file.empty()) {
        report(false);  // the file exists from the start
    }
}

void Metrics::restart() {
    uv_timer_stop(&timer_);
    std::uint64_t since = last_reported_ms_;
    start();
    last_reported_ms_ = since;  // the next line's rates still cover the time since the last one
}

void Metrics::report_now() {
    if (config_.report_fd >= 0) {
        send_to_parent(true);
        return;
    }
    report(true);
}

void Metrics::finish() {
    if (config_.report_fd >= 0) {
        send_to_parent(false);  // the final figures
        return;
    }
    if (!config_.metrics_file.empty()) {
        report(false);
    }
}

void Metrics::close() {
    auto* handle = reinterpret_cast<uv_handle_t*>(&timer_);
    if (!uv_is_closing(handle)) {
        uv_close(handle, nullptr);  // a member: nothing to free
    }
}

void Metrics::on_tick(uv_timer_t* timer) {
    Metrics* self = common::owner_of<Metrics>(timer);
    self->report(self->config_.stats_interval_s > 0);
}

void Metrics::send_to_parent(bool asked) {
    WorkerReport report{static_cast<std::int32_t>(::getpid()), asked ? 1U : 0U, snapshot_()};
    send_worker_report(config_.report_fd, report);  // a full pipe drops it: the next one will do
}

void Metrics::report(bool log_line) {
    if (config_.report_fd >= 0) {
        send_to_parent(false);
        return;
    }
    Stats now = snapshot_();
    if (log_line) {
        std::uint64_t now_ms = uv_now(loop_);
        double seconds = static_cast<double>(now_ms - last_reported_ms_) / 1000;
        common::log_notice("{}", format_stats_line(now, last_reported_, seconds));
        last_reported_ = now;
        last_reported_ms_ = now_ms;
    }
    if (!config_.metrics_file.empty()) {
        if (std::string error = common::write_file_atomically(config_.metrics_file, format_prometheus(now));
            !error.empty()) {
            common::log_warn("--metrics-file: {}: {}", config_.metrics_file, error);
        }
    }
}

}  // namespace echod
