// echobench --report: one self-contained HTML page of one or more runs, to
// read as pictures and put in a design review. Opening it needs no network:
// the CSS and the SVG charts (svg.h) are inline, there is no script and no
// font to fetch.
//
// The page, top to bottom:
//   - a loud banner when any run echoed a byte wrong (its figures measure a
//     broken server), a quieter one for connect, broken and timeout errors;
//   - one section per load (connections, size, pipeline, open-loop rate):
//     the runs of that load overlaid on the same axes, with a legend —
//       throughput per second over the run, connecting and warm-up shaded,
//       on a clock that is 0 where the measured window starts;
//       p99 per second, and connections open, on the same clock;
//       the latency spectrum: latency against 1 / (1 - percentile) on a log
//       axis (HdrHistogram's plot), marked at p50, p90, p99, p99.9, p99.99
//       and max;
//     then each run's parameters (server, version, start time, ...) and its
//     results, errors included.
//
// Pure: results in, a string out; the same input gives the same page.
#pragma once

#include "echobench/results/find_rate.h"
#include "echobench/results/result.h"

#include <span>
#include <string>
#include <vector>

namespace echobench {

struct ReportRun {
    std::string label;   // the legend's name: a file's stem, or the server for a live run
    BenchResult result;  // the run (or merge) as --json and --histogram-out hold it
};

// The whole page. runs must not be empty.
std::string format_html_report(std::span<const ReportRun> runs);

// --find-rate's page: the SLO's percentile latency against the achieved
// rate, one point per step (a dot passes, a cross fails), the SLO as a
// dashed line; the steps' table; then the highest passing step as a run of
// its own (the sections above), when one passed.
std::string format_find_rate_report(const FindRateResult& search);

// The legend label for a --compare file: its name without directories and
// without a final ".json" ("runs/before.json" -> "before").
std::string report_label(const std::string& path);

// The series colours, in order (Tableau 10): the i-th run of a section gets
// colour i % 10.
const std::vector<std::string>& report_colors();

}  // namespace echobench
