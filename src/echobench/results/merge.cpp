#include "echobench/results/merge.h"

#include "common/parse.h"
#include "echobench/results/json.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

namespace echobench {
namespace {

using nlohmann::json;

// An object's member, or nullptr (also when value is not an object).
const json* find(const json& value, const char* name) {
    auto it = value.find(name);
    return it == value.end() ? nullptr : &*it;
}

// Typed access to a document's fields, each failure one reason naming the field.
class Fields {
public:
    explicit Fields(const json& object) : object_(object) {}

    const json* get(const char* name) {
        const json* v = find(object_, name);
        if (v == nullptr) {
            fail(fmt::format("no \"{}\"", name));
        }
        return v;
    }

    template <typename T>
    void uint(const char* name, T& field) {
        const json* v = get(name);
        if (v == nullptr) {
            return;
        }
        auto n = json_uint(*v);
        if (!n || *n > std::numeric_limits<T>::max()) {
            fail(fmt::format("\"{}\" is not a whole number in range", name));
            return;
        }
        field = static_cast<T>(*n);
    }

    void number(const char* name, double& field) {
        const json* v = get(name);
        if (v == nullptr) {
            return;
        }
        auto d = json_double(*v);
        if (!d || *d < 0) {
            fail(fmt::format("\"{}\" is not a number of 0 or more", name));
            return;
        }
        field = *d;
    }

    void boolean(const char* name, bool& field) {
        const json* v = get(name);
        if (v == nullptr) {
            return;
        }
        if (!v->is_boolean()) {
            fail(fmt::format("\"{}\" is not true or false", name));
            return;
        }
        field = v->get<bool>();
    }

    void fail(std::string reason) {
        if (error.empty() && !reason.empty()) {
            error = std::move(reason);
        }
    }

    std::string error;

private:
    const json& object_;
};

// "timeline": an array of samples as format_json writes them, in order from
// t = 0; "" or the reason.
std::string parse_timeline(const json& array, std::vector<TimelineSample>& out) {
    if (!array.is_array()) {
        return "\"timeline\" is not an array";
    }
    for (std::size_t i = 0; i < array.size(); ++i) {
        const json& item = array[i];
        if (!item.is_object()) {
            return fmt::format("timeline[{}] is not an object", i);
        }
        TimelineSample sample;
        Fields f(item);
        f.number("t", sample.t_s);
        f.number("dt", sample.dt_s);
        f.uint("msgs", sample.msgs);
        f.uint("connections", sample.connections);
        if (const json* p99 = f.get("p99_us"); p99 != nullptr && !p99->is_null()) {
            auto us = json_double(*p99);
            if (!us || *us < 0) {
                f.fail("\"p99_us\" is neither null nor a number of 0 or more");
            } else {
                sample.p99_ns = static_cast<std::uint64_t>(std::llround(*us * 1000.0));
            }
        }
        if (!f.error.empty()) {
            return fmt::format("timeline[{}]: {}", i, f.error);
        }
        // The last may be longer than a second: a fragment of under 0.25 s
        // after it is folded in (TimelineMerger::finish).
        const double longest = i + 1 == array.size() ? 1.25 : 1.0;
        if (sample.t_s != static_cast<double>(i) || !(sample.dt_s <= longest)) {
            return fmt::format("timeline[{}]: not the sample of second {}", i, i);
        }
        out.push_back(sample);
    }
    return {};
}

}  // namespace

std::string format_histogram_document(const BenchResult& result) {
    std::string report = format_json(result);
    // format_json ends with "}\n": the histogram goes in before the brace.
    report.resize(report.size() - 2);
    return report + R"(, "histogram": )" + result.latency.to_json() + R"(, "connect_histogram": )" +
           result.connect_latency.to_json() + "}\n";
}

std::string parse_histogram_document(std::string_view text, BenchResult& result) {
    json doc;
    if (std::string error = parse_json(text, doc); !error.empty()) {
        return "not JSON: " + error;
    }
    if (!doc.is_object()) {
        return "not a JSON object";
    }
    const json* histogram = find(doc, "histogram");
    if (histogram == nullptr) {
        return "no \"histogram\" (was it written by echobench --histogram-out?)";
    }
    BenchResult r;
    Fields f(doc);
    f.uint("connections", r.connections);
    f.uint("size", r.size);
    f.uint("pipeline", r.pipeline);
    f.number("duration_s", r.duration_s);
    f.uint("messages", r.messages);
    double rate = 0;
    f.number("msgs_per_sec", rate);
    f.uint("threads", r.threads);
    f.uint("established", r.established);
    f.boolean("verify", r.verify);
    f.number("warmup_s", r.warmup_s);
    f.boolean("interrupted", r.interrupted);
    f.uint("runs", r.runs);
    if (const json* errors = f.get("errors"); errors != nullptr) {
        if (!errors->is_object()) {
            f.fail("\"errors\" is not an object");
        } else {
            Fields e(*errors);
            e.uint("connect", r.errors.connect);
            e.uint("broken", r.errors.broken);
            e.uint("mismatch", r.errors.mismatch);
            e.uint("timeout", r.errors.timeout);
            if (!e.error.empty()) {
                f.fail("errors: " + e.error);
            }
        }
    }
    if (const json* target = f.get("target"); target != nullptr) {
        if (!target->is_string()) {
            f.fail("\"target\" is not a string");
        } else {
            r.target = target->get<std::string>();
        }
    }
    if (const json* open_loop = f.get("rate"); open_loop != nullptr && !open_loop->is_null()) {
        if (!open_loop->is_object()) {
            f.fail("\"rate\" is neither null nor an object");
        } else {
            Fields o(*open_loop);
            o.number("target", r.rate);
            if (!o.error.empty() || !(r.rate > 0)) {
                f.fail("\"rate\" has no \"target\" above 0");
            }
        }
    }
    // Written since echobench 0.1.0 gained --report; older files have none.
    auto optional_string = [&f, &doc](const char* name, std::string& field) {
        if (const json* v = find(doc, name); v != nullptr) {
            if (!v->is_string()) {
                f.fail(fmt::format("\"{}\" is not a string", name));
            } else {
                field = v->get<std::string>();
            }
        }
    };
    optional_string("version", r.version);
    // Files written before "sent_bytes" existed have none (and null is a
    // merge that included one of those): the merge's is then unknown too.
    r.sent_bytes.reset();
    if (const json* sent = find(doc, "sent_bytes"); sent != nullptr && !sent->is_null()) {
        std::uint64_t bytes = 0;
        f.uint("sent_bytes", bytes);
        r.sent_bytes = bytes;
    }
    optional_string("started_at", r.started_at);
    if (const json* phases = find(doc, "phases"); phases != nullptr) {
        Fields p(*phases);
        if (!phases->is_object()) {
            f.fail("\"phases\" is not an object");
        } else {
            p.number("warmup_start_s", r.warmup_start_s);
            p.number("window_start_s", r.window_start_s);
            p.number("window_end_s", r.window_end_s);
            if (!p.error.empty()) {
                f.fail("phases: " + p.error);
            }
        }
    }
    // Churn, since --messages-per-connection; older files have none (no
    // connects, connections kept).
    std::optional<double> connect_rate;
    const json* connect_histogram = find(doc, "connect_histogram");
    if (const json* connects = find(doc, "connects"); connects != nullptr || connect_histogram != nullptr) {
        f.uint("connects", r.connects);
        double cps = 0;
        f.number("connects_per_sec", cps);
        connect_rate = cps;
        if (connect_histogram == nullptr) {
            f.fail("\"connects\" without \"connect_histogram\"");
        }
    }
    if (find(doc, "messages_per_connection") != nullptr) {
        f.uint("messages_per_connection", r.messages_per_connection);
    }
    if (const json* timeline = find(doc, "timeline"); timeline != nullptr && f.error.empty()) {
        f.fail(parse_timeline(*timeline, r.timeline));
    }
    if (!f.error.empty()) {
        return f.error;
    }
    if (r.runs == 0) {
        return "\"runs\" is 0";
    }
    if (r.size == 0) {
        return "\"size\" is 0";
    }
    if (std::string error = Histogram::from_json(*histogram, r.latency); !error.empty()) {
        return error;
    }
    if (r.latency.count() != r.messages) {
        return fmt::format("the histogram holds {} values but \"messages\" is {}", r.latency.count(), r.messages);
    }
    if (connect_histogram != nullptr) {
        if (std::string error = Histogram::from_json(*connect_histogram, r.connect_latency); !error.empty()) {
            return "connect_histogram: " + error;
        }
        if (r.connect_latency.count() != r.connects) {
            return fmt::format("the connect histogram holds {} values but \"connects\" is {}",
                               r.connect_latency.count(), r.connects);
        }
    }
    r.summed_msgs_per_sec = rate;
    r.summed_connects_per_sec = connect_rate;
    result = std::move(r);
    return {};
}

std::string merge_runs(std::span<const BenchResult> runs, std::span<const std::string> names, BenchResult& out) {
    BenchResult m;
    if (runs.empty()) {
        return "nothing to merge";
    }
    const BenchResult& first = runs.front();
    m.size = first.size;
    m.runs = 0;
    m.verify = true;
    m.sent_bytes = 0;
    double rate_sum = 0;
    double connect_rate_sum = 0;
    std::vector<std::string> targets;
    std::vector<std::string> versions;
    std::vector<std::vector<TimelineSample>> timelines;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const BenchResult& r = runs[i];
        const std::string& name = i < names.size() ? names[i] : std::string("?");
        if (r.size != first.size) {
            return fmt::format("{}: message size {} differs from {}'s {}", name, common::format_size(r.size), names[0],
                               common::format_size(first.size));
        }
        if ((r.rate > 0) != (first.rate > 0)) {
            return fmt::format("{}: {} run, but {} is {}: their latencies do not mix", name,
                               r.rate > 0 ? "an open-loop" : "a closed-loop", names[0],
                               first.rate > 0 ? "open-loop" : "closed-loop");
        }
        auto overflows = [](auto total, auto add) { return add > std::numeric_limits<decltype(total)>::max() - total; };
        if (overflows(m.connections, r.connections) || overflows(m.established, r.established) ||
            overflows(m.threads, r.threads) || overflows(m.runs, r.runs) || overflows(m.messages, r.messages) ||
            overflows(m.connects, r.connects)) {
            return fmt::format("{}: the totals overflow", name);
        }
        m.connections += r.connections;
        m.established += r.established;
        m.threads += r.threads;
        m.runs += r.runs;
        m.messages += r.messages;
        if (m.sent_bytes && r.sent_bytes && !overflows(*m.sent_bytes, *r.sent_bytes)) {
            *m.sent_bytes += *r.sent_bytes;
        } else {
            m.sent_bytes.reset();  // unknown for one run, or past 2^64: unknown for the merge
        }
        m.connects += r.connects;
        m.connect_latency.merge(r.connect_latency);
        connect_rate_sum += r.connects_per_sec();
        m.messages_per_connection = std::max(m.messages_per_connection, r.messages_per_connection);
        m.pipeline = std::max(m.pipeline, r.pipeline);
        m.duration_s = std::max(m.duration_s, r.duration_s);
        m.warmup_s = std::max(m.warmup_s, r.warmup_s);
        m.rate += r.rate;
        m.verify = m.verify && r.verify;
        m.interrupted = m.interrupted || r.interrupted;
        m.errors.merge(r.errors);
        m.latency.merge(r.latency);
        m.warmup_start_s = std::max(m.warmup_start_s, r.warmup_start_s);
        m.window_start_s = std::max(m.window_start_s, r.window_start_s);
        m.window_end_s = std::max(m.window_end_s, r.window_end_s);
        if (m.started_at.empty() || (!r.started_at.empty() && r.started_at < m.started_at)) {
            m.started_at = r.started_at;  // the earliest; ISO 8601 in UTC sorts as text
        }
        if (std::find(versions.begin(), versions.end(), r.version) == versions.end()) {
            versions.push_back(r.version);
        }
        timelines.push_back(r.timeline);
        rate_sum += r.msgs_per_sec();
        if (std::find(targets.begin(), targets.end(), r.target) == targets.end()) {
            targets.push_back(r.target);
        }
    }
    m.summed_msgs_per_sec = rate_sum;
    m.summed_connects_per_sec = connect_rate_sum;
    for (const std::string& t : targets) {
        m.target += m.target.empty() ? t : ", " + t;
    }
    for (const std::string& v : versions) {
        m.version += m.version.empty() ? v : ", " + v;
    }
    m.timeline = merge_timelines(timelines);
    out = std::move(m);
    return {};
}

}  // namespace echobench
