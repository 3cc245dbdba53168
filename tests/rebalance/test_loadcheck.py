#!/usr/bin/env python3
"""os-loadcheck against a 2-shard `orderstore local up` cluster (no rebalance here: the
checker itself is under test, so the lead's rebalance test can trust it).

- a 2 s run with 2 writers and 2 readers: exit 0, acked writes, reads, no acked order
  missing or changed, the --acked file has one line per acked write (ID, value holding
  the ID, version) and `orderstore get` reads one of them back;
- --updates 50: writers re-put their own acked orders, no read is older than the last
  acked write (stale_reads 0), the last --acked line of an order is what `get` returns;
- --max-ops 40: at most 40 operations;
- SIGTERM during a 60 s run: it stops within seconds, exit 0, the report says "signal";
- usage errors exit 2, --help exits 0.
Processes are cleaned up by PID (the cluster's *.pid files), whatever happens.

usage: test_loadcheck.py PATH_TO_OS_LOADCHECK
Environment (meson test_env): OSTORE_CLI_BIN, OSTORE_NODE_BIN, OSTORE_ROUTER_BIN.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from free_ports import free_base  # noqa: E402 (shared with the shell scripts)
from clitest import cli_env  # noqa: E402

LOADCHECK = os.path.abspath(sys.argv[1])
CLI = os.environ["OSTORE_CLI_BIN"]
ENV = cli_env()

failures = []


def check(cond, what, detail=""):
    print(f"{'ok  ' if cond else 'FAIL'} {what} {'' if cond else detail}")
    if not cond:
        failures.append(what)


def cli(*args, timeout=60):
    p = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, env=ENV,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def loadcheck_args(router, tmp, tag, *extra):
    return [LOADCHECK, "--router", router, "--prefix", tag, "--writers", "2", "--readers", "2",
            "--value-bytes", "100", "--acked", os.path.join(tmp, f"{tag}.acked"),
            "--report", os.path.join(tmp, f"{tag}.json")] + list(extra)


def report(tmp, tag):
    with open(os.path.join(tmp, f"{tag}.json")) as f:
        return json.load(f)


def kill_cluster(d):
    """SIGKILL whatever the cluster's PID files still name, by PID."""
    if not os.path.isdir(d):
        return
    for name in os.listdir(d):
        if not name.endswith(".pid"):
            continue
        try:
            with open(os.path.join(d, name)) as f:
                pid = int(f.read().strip())
            os.kill(pid, signal.SIGKILL)
        except (ValueError, OSError):
            pass


def checks(tmp, router):
    # A 2 s run.
    p = subprocess.run(loadcheck_args(router, tmp, "run2s", "--seconds", "2", "--max-ops", "0"),
                       capture_output=True, timeout=60)
    check(p.returncode == 0, "2 s run exits 0", p.stderr.decode()[-500:])
    r = report(tmp, "run2s")
    check(r["writes_acked"] > 0, "writes acked", r)
    check(r["reads"] > 0, "reads done", r)
    check(r["notfound_acked"]["count"] == 0, "no acked order missing", r["notfound_acked"])
    check(r["wrong_value"]["count"] == 0, "no acked order changed", r["wrong_value"])
    check(r["write_errors"] == {} and r["read_errors"] == {}, "no errors", r)
    check(r["stopped_by"] == "seconds" and 1.9 < r["seconds"] < 10, "stopped by time", r)
    check(r["reads_by_status"].get("OSTORE_OK") == r["reads"], "reads by status", r)
    lat = r["latency_us"]
    check(lat["put"]["count"] == r["writes"] and 0 < lat["put"]["p50"] <= lat["put"]["p99"],
          "put latency", lat)
    check(lat["get"]["count"] == r["reads"] and 0 < lat["get"]["p50"] <= lat["get"]["p99"],
          "get latency", lat)
    with open(os.path.join(tmp, "run2s.acked")) as f:
        lines = [ln.rstrip("\n").split("\t") for ln in f]
    check(len(lines) == r["writes_acked"], "one --acked line per acked write",
          f"{len(lines)} lines")
    good = all(len(x) == 3 and x[0].startswith("run2s-w") and x[1].startswith(x[0] + "|c=")
               and len(x[1]) == 100 and int(x[2]) > 0 for x in lines)
    check(good, "--acked lines are ID, value with the ID, version", lines[:2])
    rc, out, err = cli("get", lines[-1][0], "--router", router)
    check(rc == 0 and out.rstrip(b"\n") == lines[-1][1].encode(), "an acked order reads back",
          (rc, out[:120], err[-200:]))

    # --updates: writers re-put their own acked orders; monotonic reads hold.
    p = subprocess.run(loadcheck_args(router, tmp, "upd", "--seconds", "2", "--updates", "50"),
                       capture_output=True, timeout=60)
    r = report(tmp, "upd")
    check(p.returncode == 0 and r["updates_acked"] > 0 and r["updates"] >= r["updates_acked"]
          and r["stale_reads"]["count"] == 0 and r["wrong_value"]["count"] == 0
          and r["notfound_acked"]["count"] == 0, "--updates 50: updates acked, no stale read", r)
    last = {}
    with open(os.path.join(tmp, "upd.acked")) as f:
        for ln in f:
            oid, val, _ = ln.rstrip("\n").split("\t")
            last[oid] = val
    check(len(last) < r["writes_acked"], "--updates: some orders have several --acked lines",
          (len(last), r["writes_acked"]))
    oid = max(last, key=lambda k: int(last[k].split("|c=")[1].split("|")[0]))
    rc, out, err = cli("get", oid, "--router", router)
    check(rc == 0 and out.rstrip(b"\n") == last[oid].encode(),
          "--updates: the last --acked line of an order is what it reads", (rc, out[:120]))

    # Bounded by --max-ops.
    p = subprocess.run(loadcheck_args(router, tmp, "ops", "--seconds", "30", "--max-ops", "40"),
                       capture_output=True, timeout=60)
    r = report(tmp, "ops")
    check(p.returncode == 0 and r["stopped_by"] == "max_ops"
          and 0 < r["writes"] + r["reads"] <= 40 and r["seconds"] < 20, "--max-ops 40", r)

    # SIGTERM stops it early, with a report.
    proc = subprocess.Popen(loadcheck_args(router, tmp, "term", "--seconds", "60"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    r = report(tmp, "term")
    check(rc == 0 and r["stopped_by"] == "signal" and r["seconds"] < 15
          and r["writes_acked"] > 0 and r["notfound_acked"]["count"] == 0,
          "SIGTERM: exit 0 with a report", r)

    # Command line.
    for args, want in (([], 2), (["--router", router], 2), (["--help"], 0),
                       (["--router", router, "--acked", "a", "--report", "b", "--writers", "x"], 2),
                       (["--router", router, "--acked", "a", "--report", "b", "--bogus"], 2)):
        p = subprocess.run([LOADCHECK] + args, capture_output=True, timeout=30, cwd=tmp)
        check(p.returncode == want, f"os-loadcheck {' '.join(args)} -> {want}", p.returncode)


def main():
    tmp = tempfile.mkdtemp(prefix="ostore-loadcheck-")
    d = os.path.join(tmp, "cluster")
    try:
        base = free_base(3)
        rc, out, err = cli("local", "up", "--dir", d, "--shards", "2", "--base-port", base,
                           "--no-sync")
        check(rc == 0, "local up", err[-800:])
        if rc == 0:
            checks(tmp, f"tcp://127.0.0.1:{base}")
    finally:
        try:
            cli("local", "down", "--dir", d, timeout=30)
        except subprocess.TimeoutExpired:
            pass
        kill_cluster(d)
        if os.environ.get("OSTORE_KEEP_TMP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


def _terminated(signum, frame):
    """meson's timeout sends SIGTERM: leave through the finally blocks (local down)."""
    raise SystemExit(f"terminated by signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(main())
