#!/usr/bin/env python3
"""Test of bench/lmdb-commit (the put bound, bench/put-bound): the real program, run for
1 s with tiny numbers in mode lmdb (2 envs: the node's store/replog code with synced
commits) and mode aof; checks the one output line, the JSON fields, puts > 0, that the
run's directory is removed, and that bad options exit 2 with a usage line. No timing
assertions: speed is measured by bench/put-bound, not here.

usage: test_lmdb_commit.py PATH_TO_LMDB_COMMIT
"""
import json
import os
import re
import subprocess
import sys
import tempfile

LC = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, flush=True)


def run(*args):
    return subprocess.run([LC, *args], capture_output=True, text=True, timeout=60)


LINE = re.compile(r"^mode=(lmdb|aof) envs=(\d+) batch=(\d+) commits_per_sec=(\d+) "
                  r"puts_per_sec=(\d+) commit_p50_us=(\d+) commit_p99_us=(\d+) "
                  r"write_ios_per_put=(\S+) write_kb_per_put=(\S+) write_ms_per_io=(\S+) "
                  r"flush_ms_per_flush=(\S+) flushes_per_commit=(\S+) "
                  r"runq_wait_us_per_commit=(\S+)$")
FIELDS = ["mode", "envs", "batch", "records", "value_size", "log_retain_entries", "commits",
          "puts", "seconds", "commits_per_sec", "puts_per_sec", "commit_p50_us",
          "commit_p99_us", "disk_device", "disk_write_ios_per_put", "disk_write_kb_per_put",
          "disk_write_ms_per_io", "disk_flush_ms_per_flush", "disk_flushes_per_commit",
          "runq_wait_us_per_commit"]

with tempfile.TemporaryDirectory(prefix="test-lmdb-commit.") as parent:
    for mode in ("lmdb", "aof"):
        jpath = os.path.join(parent, mode + ".json")
        r = run("--mode", mode, "--envs", "2", "--batch", "4", "--records", "200",
                "--value-size", "50", "--seconds", "1", "--log-retain-entries", "100",
                "--dir", parent, "--json", jpath)
        check(r.returncode == 0, "%s: exit %d, stderr %r" % (mode, r.returncode, r.stderr))
        lines = r.stdout.strip().splitlines()
        check(len(lines) == 1, "%s: one output line, got %r" % (mode, r.stdout))
        m = LINE.match(lines[0]) if lines else None
        check(m is not None, "%s: line format: %r" % (mode, r.stdout))
        if m:
            check(m.group(1) == mode and m.group(2) == "2" and m.group(3) == "4",
                  "%s: mode/envs/batch echoed: %r" % (mode, lines[0]))
            check(int(m.group(5)) > 0, "%s: puts_per_sec > 0: %r" % (mode, lines[0]))
            for g in range(8, 14):
                check(m.group(g) == "n/a" or float(m.group(g)) >= 0,
                      "%s: disk figure is a number or n/a: %r" % (mode, m.group(g)))
        try:
            with open(jpath) as fh:
                d = json.load(fh)
        except (OSError, ValueError) as e:
            d = {}
            check(False, "%s: JSON readable: %s" % (mode, e))
        missing = [f for f in FIELDS if f not in d]
        check(not missing, "%s: JSON fields missing: %s" % (mode, missing))
        if not missing:
            check(d["mode"] == mode and d["envs"] == 2 and d["batch"] == 4,
                  "%s: JSON echoes the options: %r" % (mode, d))
            check(d["puts"] > 0 and d["puts"] == d["commits"] * 4,
                  "%s: puts > 0 and = commits x batch: %r" % (mode, d))
            check(d["puts_per_sec"] > 0, "%s: puts_per_sec > 0" % mode)
            check(d["commit_p99_us"] >= d["commit_p50_us"] > 0,
                  "%s: p99 >= p50 > 0: %r" % (mode, d))
            check((d["disk_device"] is None) == (d["disk_write_ios_per_put"] is None),
                  "%s: disk figures null exactly when no device: %r" % (mode, d))
            check(d["runq_wait_us_per_commit"] >= 0, "%s: run-queue wait >= 0" % mode)
    left = [n for n in os.listdir(parent) if n.startswith("lmdb-commit.")]
    check(not left, "run directories removed, left: %r" % left)

    for bad in (["--mode", "wal"], ["--batch", "0"], ["--envs", "65"], ["--seconds", "x"],
                ["--value-size", "-1"], ["--frobnicate"], ["extra"],
                ["--records", "1", "--envs", "3", "--dir", parent],
                ["--batch", "10000", "--value-size", "1048576"],
                ["--records", "10000000", "--value-size", "1048576"]):
        r = run(*bad)
        check(r.returncode == 2, "%r exits 2, got %d" % (bad, r.returncode))
        check(r.stderr.startswith("lmdb-commit: ") or "usage:" in r.stderr,
              "%r: a clear message: %r" % (bad, r.stderr))
        check(r.stdout == "", "%r: nothing on stdout" % bad)
    r = run("--batch", "0")
    check("bad value '0' for --batch" in r.stderr, "the message names the option: %r" % r.stderr)
    r = run("--dir", os.path.join(parent, "missing", "deeper"), "--seconds", "1")
    check(r.returncode == 2 and "cannot create" in r.stderr,
          "a --dir that does not exist exits 2: %d %r" % (r.returncode, r.stderr))
    r = run("--help")
    check(r.returncode == 0 and r.stdout.startswith("usage: lmdb-commit"), "--help")
    r = run("--version")
    check(r.returncode == 0 and r.stdout.startswith("lmdb-commit "), "--version")

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("lmdb-commit: all checks passed")
