#!/usr/bin/env python3
"""End-to-end test of orderstore-bench (bench/README.md, `orderstore-bench --help`) against
real processes on 127.0.0.1: an `orderstore local up --shards 2` cluster on free ports and,
when the bench has its redis driver, a redis-server on a free port.

1. Every workload (put get A B C F orders) exits 0; its --json has report.c's schema, ops > 0,
   no failures, the operation kinds the workload is documented to issue, ordered
   percentiles, ops_per_sec = ops / seconds; its --csv has the documented header, one row
   per second, and adds up to the JSON's ops and failures.
2. --ops N stops at exactly N requests; --keys zipfian runs; --rate R (open loop) sends at
   most R x seconds and not far fewer; --value-size is what `orderstore get` reads back.
3. One primary SIGSTOPped: failures are counted under their status names, exit 1.
4. --target redis://: put and get with the same schema, the stored value is the version
   prefix plus --value-size bytes (or, built without hiredis, --target is refused, exit 2).
5. Bad input: exit 2 (usage) or 3 (no cluster, router unreachable) with a message on
   stderr, no summary on stdout and no result file.
No timing assertions (speed is measured by bench/, not by tests). Every process is stopped
by PID: the cluster with `local down` (then SIGKILL of what is left), redis by SIGTERM,
a stopped node gets SIGCONT, also when a check fails.

usage: test_orderstore_bench.py PATH_TO_ORDERSTORE_BENCH
(OSTORE_CLI_BIN, OSTORE_NODE_BIN, OSTORE_ROUTER_BIN from meson's test environment)
"""
import csv
import json
import lzma
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from clitest import CliTest, cli_env  # noqa: E402
from free_ports import free_base  # noqa: E402

BENCH = sys.argv[1]
CLI = os.environ["OSTORE_CLI_BIN"]
SRC = os.environ.get("OSTORE_SOURCE_ROOT",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ENV = cli_env()
T = CliTest(CLI, ENV)
run, check, failures = T.run, T.check, T.failures

WORKLOADS = ("put", "get", "A", "B", "C", "F", "orders")
# Operation kinds (report.c's by_op keys) each workload must and may issue (README,
# "Workloads"); 'rmw' and 'order' are the composite spans.
KINDS = {
    "put": ({"put"}, set()),
    "get": ({"get"}, set()),
    "A": ({"get", "put"}, set()),
    "B": ({"get"}, {"put"}),  # 5 % updates: only required in a long enough run (below)
    "C": ({"get"}, set()),
    "F": ({"get", "cas", "rmw"}, set()),
    "orders": ({"create", "get", "cas"}, {"order"}),
}
# Statuses that are answers, not failures (README: "not counting ENOTFOUND/ECONFLICT").
ANSWERS = {"OSTORE_ENOTFOUND", "OSTORE_ECONFLICT"}
TOP = {"target", "workload", "keys", "concurrency", "value_size", "records", "rate", "loop",
       "seconds", "ops", "ops_per_sec", "latency_us", "errors", "failures", "by_op"}
LAT = ("p50", "p95", "p99", "p999", "max")
CSV_HEADER = ["second", "ops", "errors", "p50_us", "p99_us", "max_us"]
LINE = re.compile(r"^target=(\S+) workload=(\S+) keys=(\S+) concurrency=(\d+) value_size=(\d+) "
                  r"ops=(\d+) errors=(\d+) seconds=\S+ ops_per_sec=\d+ p50_us=\d+ p95_us=\d+ "
                  r"p99_us=\d+ p999_us=\d+ max_us=\d+$")


def _on_sigterm(signum, frame):
    raise SystemExit(f"killed by signal {signum} (meson timeout?)")


signal.signal(signal.SIGTERM, _on_sigterm)  # meson's timeout: the finally blocks still run


def bench(*args, timeout=60):
    p = subprocess.run([BENCH] + [str(a) for a in args], capture_output=True, env=ENV,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def check_latency(what, lat):
    ok = isinstance(lat, dict) and all(isinstance(lat.get(k), (int, float)) for k in LAT + ("mean",))
    ok = ok and all(lat[a] <= lat[b] for a, b in zip(LAT, LAT[1:])) and lat["mean"] <= lat["max"]
    check(ok, f"{what}: p50 <= p95 <= p99 <= p99.9 <= max, mean <= max", str(lat))


def check_result(what, d, wl, target="orderstore", allowed_errors=(), loop="closed"):
    """The --json result @d of a run of workload @wl: schema and internal consistency."""
    if not check(isinstance(d, dict), f"{what}: --json written and parses"):
        return
    missing = TOP - set(d)
    check(not missing, f"{what}: JSON has every top-level field", str(sorted(missing)))
    if missing:
        return
    check(d["target"] == target and d["workload"] == wl and d["loop"] == loop,
          f"{what}: target, workload and loop echoed", str([d["target"], d["workload"], d["loop"]]))
    check(d["ops"] > 0 and d["failures"] == 0, f"{what}: ops > 0, failures 0",
          f"ops {d['ops']} failures {d['failures']} errors {d['errors']}")
    bad = set(d["errors"]) - set(allowed_errors)
    check(not bad, f"{what}: no error statuses besides {sorted(allowed_errors)}", str(d["errors"]))
    secs = d["seconds"]
    check(secs > 0 and abs(d["ops_per_sec"] - d["ops"] / secs) <= 0.001 * d["ops_per_sec"] + 0.01,
          f"{what}: ops_per_sec = ops / seconds", f"{d['ops_per_sec']} vs {d['ops']} / {secs}")
    check_latency(what + " total", d["latency_us"])
    by_op = d["by_op"]
    need, may = KINDS[wl]
    if wl == "B" and d["ops"] >= 300:
        need = need | {"put"}  # 0.95^300: a run without an update is a bug, not luck
    if wl == "orders" and d["ops"] >= 14 * d["concurrency"]:
        need = need | {"order"}  # 7 requests per order: every slot went round twice
    got = set(by_op)
    check(need <= got <= need | may, f"{what}: operation kinds {sorted(need)} (may: {sorted(may)})",
          str(sorted(got)))
    req_ops = 0
    for kind, o in by_op.items():
        if not check({"ops", "ops_per_sec", "request", "latency_us", "errors"} <= set(o),
                     f"{what}: by_op.{kind} fields", str(o)):
            continue
        check_latency(f"{what} {kind}", o["latency_us"])
        check(abs(o["ops_per_sec"] - o["ops"] / secs) <= 0.001 * o["ops_per_sec"] + 0.01,
              f"{what}: by_op.{kind} ops_per_sec = ops / seconds", str(o))
        check(o["request"] == (kind not in ("rmw", "order")), f"{what}: by_op.{kind}.request", str(o))
        if o["request"]:
            req_ops += o["ops"]
    check(req_ops == d["ops"], f"{what}: the request kinds add up to ops", f"{req_ops} vs {d['ops']}")
    if wl == "F":
        check(by_op["rmw"]["ops"] == by_op["cas"]["ops"],
              f"{what}: every compare-and-set ends one read-modify-write span", str(by_op))
    if wl == "orders":
        check(by_op.get("order", {"ops": 0})["ops"] <= by_op["create"]["ops"],
              f"{what}: no more orders delivered than created", str(by_op))
        doc = d.get("documents", {})
        check(doc.get("count", 0) > 0 and doc.get("max_bytes", 0) >= doc.get("mean_bytes", 1) > 0,
              f"{what}: documents (count, mean_bytes, max_bytes)", str(doc))


def check_csv(what, path, d):
    """The --csv series of the run whose JSON is @d."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        check(False, f"{what}: --csv written", str(e))
        return []
    check(rows and rows[0] == CSV_HEADER, f"{what}: CSV header {','.join(CSV_HEADER)}",
          str(rows[:1]))
    body = rows[1:]
    try:
        vals = [[int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5])] for r in body]
    except (ValueError, IndexError):
        check(False, f"{what}: CSV rows are 6 integers", str(body[:3]))
        return []
    check([v[0] for v in vals] == list(range(len(vals))), f"{what}: one row per second from 0",
          str([v[0] for v in vals]))
    if d:
        check(1 <= len(vals) <= math.ceil(d["seconds"]) + 1,
              f"{what}: {len(vals)} rows for {d['seconds']:.2f} s", str(vals))
        check(sum(v[1] for v in vals) == d["ops"] and sum(v[2] for v in vals) == d["failures"],
              f"{what}: the rows add up to the JSON's ops and failures",
              f"{sum(v[1] for v in vals)}/{d['ops']} {sum(v[2] for v in vals)}/{d['failures']}")
    check(all(v[3] <= v[4] <= v[5] for v in vals), f"{what}: p50 <= p99 <= max in every row",
          str(vals))
    return vals


def small_orders_file(tmp):
    """The first invoices of the real Online Retail file, so loading the documents takes
    milliseconds (the whole file takes seconds, more under ASan)."""
    path = os.path.join(tmp, "orders.csv")
    with lzma.open(os.path.join(SRC, "data", "online-retail.csv.xz"), "rt",
                   encoding="utf-8", errors="replace") as src, open(path, "w") as out:
        for i, line in enumerate(src):
            if i > 400:
                break
            out.write(line)
    return path


def redis_cmd(port, *args):
    """One RESP command to redis-server (plain TCP: redis is not an nng port). Returns the
    reply: bytes, int, None (nil) or a str for a status / error line."""
    req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a)
                                              for a in (x.encode() for x in args))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(req)
        f = s.makefile("rb")
        line = f.readline().rstrip(b"\r\n")
        if line[:1] in (b"+", b"-"):
            return line.decode()
        if line[:1] == b":":
            return int(line[1:])
        n = int(line[1:])
        return None if n < 0 else f.read(n + 2)[:n]


def part_workloads(c, tmp, orders_file):
    for wl in WORKLOADS:
        js, cs = os.path.join(tmp, wl + ".json"), os.path.join(tmp, wl + ".csv")
        extra = ["--orders-file", orders_file, "--concurrency", 2] if wl == "orders" else \
            ["--concurrency", 4]
        rc, out, err = bench("--dir", c, "--workload", wl, "--records", 200, "--seconds", 1,
                             "--timeout-ms", 3000, "--json", js, "--csv", cs, "--quiet", *extra)
        if not check(rc == 0, f"{wl}: exit 0", f"rc {rc} {out[-300:]!r} {err[-600:]!r}"):
            continue
        d = load_json(js)
        check_result(wl, d, wl, allowed_errors={"OSTORE_ECONFLICT"} if wl == "F" else ())
        m = LINE.match(out.splitlines()[0] if out else "")
        check(m is not None and d is not None and m.group(2) == wl and int(m.group(6)) == d["ops"],
              f"{wl}: summary line key=value, same ops as the JSON", out[:300])
        check_csv(wl, cs, d)


def part_options(c, tmp):
    # --ops N: exactly N requests (F's odd N stops in the middle of a read-modify-write).
    for wl, n in (("get", 250), ("F", 101)):
        js = os.path.join(tmp, f"ops-{wl}.json")
        rc, out, err = bench("--dir", c, "--workload", wl, "--records", 200, "--ops", n,
                             "--concurrency", 4, "--json", js, "--quiet")
        d = load_json(js)
        check(rc == 0 and d is not None and d["ops"] + d["failures"] == n and d["ops"] == n,
              f"--ops {n} ({wl}): exactly {n} requests", f"rc {rc} {err[-300:]!r} {d and d['ops']}")
    # --keys zipfian
    js = os.path.join(tmp, "zipf.json")
    rc, out, err = bench("--dir", c, "--workload", "A", "--records", 200, "--keys", "zipfian",
                         "--seconds", 1, "--concurrency", 4, "--json", js, "--quiet")
    d = load_json(js)
    check(rc == 0, "--keys zipfian: exit 0", err[-300:])
    check_result("zipfian A", d, "A")
    check(d is not None and d.get("keys") == "zipfian", "--keys zipfian: echoed in the JSON")
    # --rate R: open loop, at most R x seconds requests on the schedule, not far fewer.
    rate, secs = 200, 2
    js, cs = os.path.join(tmp, "rate.json"), os.path.join(tmp, "rate.csv")
    rc, out, err = bench("--dir", c, "--workload", "get", "--records", 200, "--rate", rate,
                         "--seconds", secs, "--concurrency", 16, "--json", js, "--csv", cs,
                         "--quiet", "--no-preload")
    d = load_json(js)
    check(rc == 0, "--rate: exit 0", err[-300:])
    check_result("open loop get", d, "get", loop="open")
    if d:
        check(d["rate"] == rate and rate * secs / 4 <= d["ops"] <= rate * secs + 1,
              f"--rate {rate} --seconds {secs}: ops within [{rate * secs // 4}, {rate * secs}]",
              str(d["ops"]))
    vals = check_csv("open loop get", cs, d)
    check(len(vals) >= secs, f"--rate: a CSV row for each of the {secs} seconds", str(vals))
    # --value-size: the preload writes every record, `orderstore get` reads it back.
    rc, out, err = bench("--dir", c, "--workload", "get", "--records", 5, "--value-size", 37,
                         "--ops", 20, "--concurrency", 2, "--quiet")
    check(rc == 0, "--value-size 37 (get, preload of 5 records): exit 0", err[-300:])
    rc, out, err = bench("--dir", c, "--workload", "put", "--records", 3, "--value-size", 53,
                         "--ops", 90, "--concurrency", 2, "--quiet")
    check(rc == 0, "--value-size 53 (put on 3 records): exit 0", err[-300:])
    for k, size in ((0, 53), (1, 53), (2, 53), (3, 37), (4, 37)):
        key = "bench-%08d" % k
        rc, out, err = run("get", "--dir", c, key)
        check(rc == 0 and len(out) == size and re.fullmatch("[a-z]*", out) is not None,
              f"--value-size: {key} reads back {size} letters", f"rc {rc} len {len(out)} {err!r}")


def part_failures(c, tmp):
    """Shard 0's primary SIGSTOPped: its requests fail (the router answers EUNAVAIL once
    its node does not answer, or the request times out), counted by status name; exit 1."""
    with open(os.path.join(c, "node-0.pid")) as f:
        pid = int(f.read().strip())
    js, cs = os.path.join(tmp, "stop.json"), os.path.join(tmp, "stop.csv")
    os.kill(pid, signal.SIGSTOP)
    try:
        rc, out, err = bench("--dir", c, "--workload", "get", "--records", 200, "--no-preload",
                             "--seconds", 1, "--concurrency", 4, "--timeout-ms", 300,
                             "--json", js, "--csv", cs)
    finally:
        os.kill(pid, signal.SIGCONT)
    check(rc == 1, "stopped shard: exit 1 (requests failed)", f"rc {rc} {out[-300:]!r} {err[-300:]!r}")
    d = load_json(js)
    if not check(d is not None and TOP <= set(d), "stopped shard: --json written"):
        return
    names = set(d["errors"])
    check(d["failures"] > 0 and names and names <= {"OSTORE_EUNAVAIL", "OSTORE_ETIMEDOUT"},
          "stopped shard: failures counted as OSTORE_EUNAVAIL / OSTORE_ETIMEDOUT", str(d["errors"]))
    check(sum(d["errors"].values()) == d["failures"] and
          d["by_op"].get("get", {}).get("errors") == d["errors"],
          "stopped shard: failures = the sum by status, all under get", str(d))
    check(d["ops"] > 0, "stopped shard: the other shard kept answering", str(d["ops"]))
    for name, n in d["errors"].items():
        check(f"get {name}: {n}" in out, f"stopped shard: summary line 'get {name}: {n}'", out[-400:])
    check_csv("stopped shard", cs, d)


def part_redis(tmp):
    rc, out, err = bench("--version")
    if "redis driver: yes" not in out:
        check("redis driver: no" in out, "--version names the redis driver", out)
        rc, out, err = bench("--target", "redis://127.0.0.1:6379", "--ops", 10)
        check(rc == 2 and "hiredis" in err and out == "",
              "built without hiredis: --target refused (exit 2, names hiredis)", f"rc {rc} {err!r}")
        return
    server = shutil.which("redis-server")
    if not check(server is not None, "redis-server is installed (tools/install-deps)"):
        return
    port = free_base(1)
    p = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", tmp, "--daemonize", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        up = False
        for _ in range(100):
            try:
                up = redis_cmd(port, "PING") == "+PONG"
                break
            except OSError:
                time.sleep(0.05)
        if not check(up, f"redis-server answers PING on {port}"):
            return
        target = f"redis://127.0.0.1:{port}"
        for wl in ("put", "get"):
            js = os.path.join(tmp, f"redis-{wl}.json")
            rc, out, err = bench("--target", target, "--workload", wl, "--records", 50,
                                 "--value-size", 33, "--ops", 300, "--concurrency", 4,
                                 "--json", js, "--quiet")
            check(rc == 0, f"redis {wl}: exit 0", f"rc {rc} {err[-300:]!r}")
            d = load_json(js)
            check_result(f"redis {wl}", d, wl, target=target)
            check(d is not None and d["ops"] == 300, f"redis {wl}: --ops 300 exactly",
                  str(d and d["ops"]))
        v = redis_cmd(port, "GET", "bench-00000007")
        check(isinstance(v, bytes) and len(v) == 21 + 33 and re.fullmatch(rb"\d{20}:[a-z]{33}", v),
              "redis: a record is the 20-digit version, ':' and --value-size letters", repr(v))
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    rc, out, err = bench("--target", f"redis://127.0.0.1:{port}", "--ops", 10, "--timeout-ms", 500)
    check(rc == 3 and "cannot connect" in err and out == "",
          "redis down: exit 3 (target unreachable) with a message", f"rc {rc} {out!r} {err!r}")


def part_bad_input(c, tmp):
    rc, out, err = bench("--help")
    check(rc == 0 and all(w in out for w in WORKLOADS) and "3 target unreachable" in out,
          "--help: exit 0, names every workload and the exit statuses", f"rc {rc} {out[-300:]!r}")
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty, exist_ok=True)
    js = os.path.join(tmp, "bad.json")
    dead = f"tcp://127.0.0.1:{free_base(1)}"  # nothing listens there
    cases = [
        (2, "unknown workload", ["--dir", c, "--workload", "Z"], "unknown workload"),
        (2, "--records 0", ["--dir", c, "--records", "0"], "--records"),
        (2, "--records abc", ["--dir", c, "--records", "abc"], "--records"),
        (2, "--concurrency 5000", ["--dir", c, "--concurrency", "5000"], "--concurrency"),
        (2, "--value-size too big", ["--dir", c, "--value-size", "2000000"], "--value-size"),
        (2, "--seconds 0", ["--dir", c, "--seconds", "0"], "--seconds"),
        (2, "--ops 0", ["--dir", c, "--ops", "0"], "--ops"),
        (2, "--rate -5", ["--dir", c, "--rate", "-5"], "--rate"),
        (2, "--timeout-ms 1x", ["--dir", c, "--timeout-ms", "1x"], "--timeout-ms"),
        (2, "--keys pareto", ["--dir", c, "--keys", "pareto"], "--keys"),
        (2, "--target http://", ["--target", "http://127.0.0.1:1"], "--target"),
        (2, "--workload without value", ["--dir", c, "--workload"], "requires an argument"),
        (2, "--records without value", ["--dir", c, "--records"], "requires an argument"),
        (2, "unknown option", ["--dir", c, "--frobnicate"], "unrecognized option"),
        (2, "stray argument", ["--dir", c, "stray"], "unexpected argument"),
        (2, "no target at all", [], "--router"),
        (2, "--router notaurl", ["--router", "notaurl"], "bad value 'notaurl' for --router"),
        (2, "--json in a missing directory", ["--dir", c, "--json", os.path.join(tmp, "nodir", "x.json")],
         "cannot write --json"),
        (2, "--csv into a file as directory", ["--dir", c, "--csv", os.path.join(c, "routers", "y.csv")],
         "cannot write --csv"),
        (3, "--dir of a directory without a cluster", ["--dir", empty], "not a running local cluster"),
        (3, "--dir that does not exist", ["--dir", os.path.join(tmp, "nope")],
         "not a running local cluster"),
        (3, "unreachable --router, get (preload)", ["--router", dead, "--workload", "get"],
         "no router answered"),
        (3, "unreachable --router, put (no preload)", ["--router", dead, "--workload", "put"],
         "no router answered"),
    ]
    common = ["--json", js, "--seconds", 1, "--records", 10, "--timeout-ms", 500, "--quiet"]
    for rc_want, what, args, msg in cases:
        rc, out, err = bench(*common, *args)  # args last: an option may lack its value
        ok = rc == rc_want and msg in err and out == "" and not os.path.exists(js)
        check(ok, f"bad input, {what}: exit {rc_want}, '{msg}' on stderr, nothing run",
              f"rc {rc} stdout {out[-200:]!r} stderr {err[-300:]!r} json {os.path.exists(js)}")
        if os.path.exists(js):
            os.remove(js)


def part_auth(tmp):
    """A cluster that requires tokens, a wrong one given: exit 3 at once, nothing run."""
    a = os.path.join(tmp, "auth")
    try:
        rc, out, err = run("local", "up", "--dir", a, "--shards", 1, "--auth",
                           "--base-port", free_base(2), timeout=120)
        if not check(rc == 0, "local up --auth", f"rc {rc} {out[-300:]!r} {err[-600:]!r}"):
            return
        bad = os.path.join(tmp, "bad.token")
        with open(bad, "w") as f:
            f.write("0" * 64 + "\n")
        os.chmod(bad, 0o600)
        js = os.path.join(tmp, "auth.json")
        rc, out, err = bench("--dir", a, "--token-file", bad, "--workload", "get", "--json", js,
                             "--seconds", 1, "--records", 10, "--quiet")
        check(rc == 3 and "refused the credential" in err and not os.path.exists(js),
              "a wrong --token-file: exit 3 with a message, nothing run",
              f"rc {rc} {out[-200:]!r} {err[-300:]!r}")
        rc, out, err = bench("--dir", a, "--workload", "get", "--json", js, "--seconds", 1,
                             "--records", 10, "--quiet")
        check(rc == 0 and os.path.exists(js), "the cluster's own token (--dir): exit 0",
              f"rc {rc} {err[-300:]!r}")
    finally:
        stop_cluster(a)


def main():
    tmp = tempfile.mkdtemp(prefix="ostore-benchtest-")
    c = os.path.join(tmp, "c")
    base = free_base(3)
    try:
        orders_file = small_orders_file(tmp)
        rc, out, err = run("local", "up", "--dir", c, "--shards", 2, "--base-port", base,
                           timeout=120)
        if check(rc == 0, "local up --shards 2", f"rc {rc} {out[-300:]!r} {err[-600:]!r}"):
            part_workloads(c, tmp, orders_file)
            part_options(c, tmp)
            part_failures(c, tmp)
            part_bad_input(c, tmp)
        part_auth(tmp)
        part_redis(tmp)
    finally:
        stop_cluster(c)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed: {failures}")
        sys.exit(1)
    print("all checks passed")


def stop_cluster(c):
    if not os.path.isdir(c):
        return
    pids = []
    for name in ("node-0", "node-1", "router"):
        try:
            with open(os.path.join(c, name + ".pid")) as f:
                pids.append(int(f.read().strip()))
        except (OSError, ValueError):
            pass
    for pid in pids:  # a node left stopped by a failed check could not go down
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass
    run("local", "down", "--dir", c, timeout=60)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    reports = []
    for name in os.listdir(c):
        if name.endswith(".log"):
            with open(os.path.join(c, name), errors="replace") as f:
                reports += [name + ": " + ln.strip() for ln in f
                            if "Sanitizer" in ln or "runtime error:" in ln]
    check(not reports, "no sanitizer report in the process logs", str(reports[:3]))


if __name__ == "__main__":
    main()
