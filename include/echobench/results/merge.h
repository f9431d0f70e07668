// --histogram-out and --merge: a run's report with its full latency
// histogram, written to a file, and many such files combined into one exact
// report, e.g. from several load machines aimed at one server.
//
// The document is the object --json prints plus "histogram" (see
// Histogram::to_json): the buckets themselves, so merged percentiles are
// those of every sample, never an average of percentiles; and
// "connect_histogram", the same for connect_latency_us (files written
// before churn have neither it nor "connects": they merge as no connects).
//
// Merge semantics: the runs are taken to be concurrent (one per load
// machine, over the same window), so
//   messages, connections, established, threads, errors, runs  summed
//   connects                          summed
//   msgs_per_sec (and bytes_per_sec)  the sum of each run's msgs_per_sec
//   connects_per_sec                  the sum of each run's
//   duration_s, warmup_s, pipeline    the largest of the runs
//   messages_per_connection           the largest of the runs
//   latency_us                        from the merged histogram
//   connect_latency_us                from the merged connect histograms
//   rate.target                       summed (open-loop runs only)
//   verify                            true only if every run verified
//   interrupted                       true if any run was
//   target, version                   the distinct values, ", "-separated
//   started_at                        the earliest
//   phases                            each the latest of the runs
//   timeline                          msgs and connections summed per second,
//                                     p99_us null (percentiles do not add up)
// Runs must agree on the message size, the histogram layout, and open or
// closed loop (open-loop latency counts from each message's scheduled time,
// closed-loop from its send: they do not mix).
#pragma once

#include "echobench/results/result.h"

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace echobench {

// format_json's object with "histogram" and "connect_histogram" added; one
// line and a newline.
std::string format_histogram_document(const BenchResult& result);

// Reads a document format_histogram_document wrote (other fields are
// ignored). Returns "" or the reason it cannot be used.
std::string parse_histogram_document(std::string_view text, BenchResult& result);

// Combines runs (names[i] is where runs[i] came from, for errors) into out.
// Returns "" or one line naming the file at fault: "B.json: ...".
std::string merge_runs(std::span<const BenchResult> runs, std::span<const std::string> names, BenchResult& out);

// --merge and --compare read files no larger than this
// (common::read_text_file); a document of 3,840 buckets is ~100 KB.
inline constexpr std::size_t max_document_size = std::size_t{16} * 1024 * 1024;

}  // namespace echobench
