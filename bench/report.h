/*
 * report.h - recording and reporting of a bench run (bench only).
 *
 * Completions arrive on several threads (nng's callback threads for orderstore, the poll
 * loop for redis). Each thread records into its own recorder (thread-local, created on
 * first use), so the hot path takes no lock: per kind a latency histogram (hist.h) and
 * error counts by status code, plus a histogram of the current second. When a thread's
 * second changes it adds that second's histogram to the run's time series under a mutex
 * (about once per thread per second). After the run every recorder is merged.
 *
 * Throughput counts answered requests: OK and the definite answers ENOTFOUND and
 * ECONFLICT (both a served request); every non-OK status is also counted by code.
 * Latency is from the intended send time (open loop) or the send time (closed loop) to
 * the answer.
 */
#ifndef OB_REPORT_H
#define OB_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "bench.h"
#include "hist.h"

/**
 * ob_report_create - a report for a run of at most @max_seconds (the series has one row
 * per second up to that; later completions go to the last row).
 * Returns NULL when out of memory.
 */
ob_report *ob_report_create(uint64_t max_seconds);

/** ob_report_destroy - free the report and every recorder; NULL is ignored. Call only
 *  after every thread stopped recording. */
void ob_report_destroy(ob_report *rp);

/** ob_report_start - set the run's start time (second 0 of the series). */
void ob_report_start(ob_report *rp, uint64_t start_ns);

/**
 * ob_report_record - one completion of kind @k with status @st at @now_ns, @lat_ns after
 * its (intended) send. @served: 1 if it counts as throughput and latency. Lock-free except
 * once per thread per second; aborts only if the thread's recorder cannot be allocated.
 */
void ob_report_record(ob_report *rp, ob_kind k, ostore_status st, int served, uint64_t lat_ns,
                      uint64_t now_ns);

/**
 * ob_report_finish - merge every recorder (the run's threads must be done recording).
 * @elapsed_s: the run's length used for rates.
 */
void ob_report_finish(ob_report *rp, double elapsed_s);

/** ob_report_print - the human summary (one line per kind, the total, errors). */
void ob_report_print(const ob_report *rp, const ob_run *run, FILE *out);

/** ob_report_total_errors - failures: non-OK statuses that are not definite answers. */
uint64_t ob_report_failures(const ob_report *rp);

/** ob_report_write_json - the result file. Returns 0 or -1. */
int ob_report_write_json(const ob_report *rp, const ob_run *run, const char *path);

/** ob_report_write_csv - the per-second series: second,ops,errors,p50_us,p99_us,max_us.
 *  Returns 0 or -1. */
int ob_report_write_csv(const ob_report *rp, const char *path);

#endif /* OB_REPORT_H */
