#!/usr/bin/env python3
"""Replication and failover end to end, with real processes and the `orderstore` CLI.

2 shards x (primary + 1 replica), synchronous replication (--sync-replicas 1 by default):
  A. a replica is SIGKILLed under load and restarted with `local start`: it catches up and
     `verify` reports the shard in sync; every acknowledged order is readable.
  B. writers record every acknowledged (id, value); the primary of shard 0 is SIGKILLed
     mid-load (`local kill --primary-of 0`); `failover --shard 0` promotes the replica;
     every acknowledged order is readable with its content; the old primary restarted
     with `local start` rejoins as a replica, refuses writes sent to it directly, and
     `verify` is clean.
  C. the replica of shard 1 is SIGKILLed and writes go on until the primary's log has
     moved more than --log-retain-entries (200) past it (the cluster runs in sync mode,
     so with its only replica down shard 1 answers "not enough replicas", yet the writes
     are committed on the primary); restarted with `local start` it re-seeds exactly
     once (its log after the restart has one "re-seeded" line, also a while later) and
     `verify` is clean.
  D. the primary of shard 1 is SIGKILLed and restarted with an EMPTY data directory: the
     replica's first pull shows it is ahead, the node logs that and refuses writes;
     the replica keeps its LSN; `failover` promotes the replica and every acknowledged
     order is readable with its content (none was overwritten); the emptied node
     rejoins as a replica and `verify` is clean.
  E. fencing: 1 shard x (primary + 2 replicas); the primary and one replica are paused
     (SIGSTOP): failover refuses, since the paused replica could still acknowledge the
     paused primary's writes once resumed.
  F. a rejoined old primary is not promoted on its LSN alone (found by tests/chaos):
     1 shard x (primary + 2 replicas); both replicas paused, 12 puts commit on the primary
     only (never acknowledged); primary SIGKILLed, replicas resumed, failover; 2 puts on
     the new primary, at least one acknowledged; the new primary paused, the old one
     restarted (it cannot re-seed: its primary is paused), so it holds more LSNs, of the
     old epoch; the new primary SIGKILLed and `failover`: it must promote the replica of
     the newer epoch, and every acknowledged write stays readable.

Writers are bounded in count and in time. Exit 77 (meson: skipped) when the node binary
has no replication yet (no --sync-replicas option).

Environment (meson test_env): OSTORE_CLI_BIN, OSTORE_NODE_BIN, OSTORE_ROUTER_BIN.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from free_ports import free_base  # noqa: E402 (shared with the shell scripts)
from clitest import CliTest, cli_env  # noqa: E402

CLI = os.environ["OSTORE_CLI_BIN"]
ENV = cli_env()

_t = CliTest(CLI, ENV, timeout=120, detail_chars=800)
run, check, expect, failures = _t.run, _t.check, _t.expect, _t.failures
WRITERS = 3
MAX_PER_WRITER = 400


class Writers:
    """WRITERS threads putting fresh orders through the router; every put the CLI
    acknowledged (exit 0) is recorded with its value. Bounded by count and time."""

    def __init__(self, d, tag, max_seconds=40):
        self.d, self.tag = d, tag
        self.acked = {}
        self.failed = 0
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.threads = [threading.Thread(target=self.loop, args=(t,)) for t in range(WRITERS)]

    def loop(self, t):
        for i in range(MAX_PER_WRITER):
            if self.stop_flag.is_set() or time.monotonic() > self.deadline:
                return
            oid = f"{self.tag}-w{t}-{i}"
            val = json.dumps({"order_id": oid, "writer": t, "n": i,
                              "pad": "x" * random.randrange(10, 200)}, separators=(",", ":"))
            rc, _, _ = run("put", oid, val, "--dir", self.d, "--timeout-ms", "3000", timeout=60)
            with self.lock:
                if rc == 0:
                    self.acked[oid] = val
                else:
                    self.failed += 1

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def count(self):
        with self.lock:
            return len(self.acked)

    def wait_acked(self, n, limit=20):
        end = time.monotonic() + limit
        while self.count() < n and time.monotonic() < end:
            time.sleep(0.1)

    def stop(self):
        self.stop_flag.set()
        for th in self.threads:
            th.join()
        return self.acked


def export_all(d):
    rc, out, err = run("export", "--dir", d, timeout=180)
    if not check(rc == 0, "export", err[-500:]):
        return {}
    got = {}
    for line in out.splitlines():
        if line:
            got[json.loads(line)["order_id"]] = line
    return got


def check_acked(d, acked, what):
    got = export_all(d)
    missing = [k for k in acked if k not in got]
    wrong = [k for k in acked if k in got and got[k] != acked[k]]
    check(not missing and not wrong,
          f"{what}: all {len(acked)} acknowledged orders readable with their content",
          f"missing {len(missing)} {missing[:5]}, wrong content {len(wrong)} {wrong[:5]}")


def wait_verify(d, what, limit=40):
    end = time.monotonic() + limit
    rc, out, err = None, "", ""
    while time.monotonic() < end:
        rc, out, err = run("verify", "--dir", d, "--wait-ms", "3000")
        if rc == 0:
            break
        time.sleep(1)
    check(rc == 0 and "in sync" in out, what, f"(rc {rc}; {out[-800:]!r} {err[-400:]!r})")


def status_json(d):
    rc, out, err = run("status", "--json", "--dir", d)
    try:
        return rc, json.loads(out)
    except ValueError:
        return rc, {"error": out + err}


def node_entry(st, node):
    for sh in st.get("shards", []):
        for n in ([sh["primary"]] if sh.get("primary") else []) + sh.get("replicas", []):
            if n["node"] == node:
                return n
    return {}


def log_since(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def log_size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def lsn_of(d, node):
    return node_entry(status_json(d)[1], node).get("lsn")


def phase_c(d, all_acked):
    """Replica of shard 1 (node 3) down until it is behind the retained log; restart:
    one re-seed, verify clean. Returns IDs of shard 1 (their puts failed while down)."""
    lsn3 = lsn_of(d, 3)
    expect(["local", "kill", "--dir", d, 3], 0, "C: kill replica node 3")
    log3 = os.path.join(d, "node-3.log")
    off = log_size(log3)
    shard1, acked, errs = [], {}, []
    lock = threading.Lock()
    end = time.monotonic() + 90

    def writer(t):
        i = 0
        while time.monotonic() < end:
            with lock:
                if len(shard1) >= 320:
                    return
            oid = f"c-w{t}-{i}"
            val = json.dumps({"order_id": oid, "n": i}, separators=(",", ":"))
            rc, _, err = run("put", oid, val, "--dir", d, "--timeout-ms", "3000", timeout=60)
            with lock:
                if rc == 0:
                    acked[oid] = val
                else:
                    shard1.append(oid)
                    errs.append(err)
            i += 1

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lsn2 = lsn_of(d, 2)
    print(f"     phase C: {len(acked)} acknowledged (shard 0), {len(shard1)} refused (shard 1); "
          f"node 3 stopped at LSN {lsn3}, primary now at {lsn2}")
    check(isinstance(lsn2, int) and isinstance(lsn3, int) and lsn2 - lsn3 > 250,
          "C: the primary's log moved more than the 200 retained entries past node 3",
          f"{lsn3} -> {lsn2}")
    check(any("not enough replicas" in e for e in errs),
          "C: shard 1 without its replica answers 'not enough replicas'", repr(errs[:2]))
    expect(["local", "start", "--dir", d, 3], 0, "C: local start node 3", has="replica of shard 1")
    wait_verify(d, "C: verify clean after the re-seed", limit=60)
    time.sleep(2)
    text = log_since(log3, off)
    n = text.count('msg="re-seeded"')
    check(n == 1 and text.count("re-seeding from the primary") == 1,
          "C: node 3 re-seeded exactly once", f"{n} re-seeded lines: {text[-1500:]!r}")
    all_acked.update(acked)
    check_acked(d, all_acked, "C")
    return shard1


def phase_d(d, all_acked, shard1_ids):
    """Primary of shard 1 restarted with an empty data directory: it must not overwrite
    its replica; failover to the replica keeps every acknowledged order."""
    lsn3 = lsn_of(d, 3)
    expect(["local", "kill", "--dir", d, "--primary-of", 1], 0, "D: kill the primary of shard 1",
           has="killed node 2")
    data2 = os.path.join(d, "node-2")
    os.rename(data2, data2 + ".moved")
    os.mkdir(data2)
    log2 = os.path.join(d, "node-2.log")
    off = log_size(log2)
    expect(["local", "start", "--dir", d, 2], 0, "D: local start node 2 on an empty directory",
           has="primary of shard 1")
    end = time.monotonic() + 15
    while time.monotonic() < end and "replica is ahead of this primary" not in log_since(log2, off):
        time.sleep(0.2)
    check("replica is ahead of this primary" in log_since(log2, off),
          "D: the emptied primary logs that its replica is ahead", log_since(log2, off)[-800:])
    probe = shard1_ids[:10]
    bad = [oid for oid in probe
           if run("put", oid, "OVERWRITE", "--dir", d, "--timeout-ms", "3000")[0] == 0]
    check(not bad, "D: the emptied primary refuses writes", f"accepted {bad}")
    rc, out, err = run("get", shard1_ids[0], "--dir", d, "--timeout-ms", "3000")
    check(rc != 0, "D: the emptied primary does not serve its (empty) data as the shard's",
          f"rc {rc} {out!r}")
    check(lsn_of(d, 3) == lsn3, "D: the replica keeps its LSN", f"{lsn3} -> {lsn_of(d, 3)}")
    expect(["failover", "--dir", d, "--shard", 1], 0, "D: failover to the replica",
           has="promoted node 3")
    check_acked(d, all_acked, "D")
    got = [run("get", oid, "--dir", d)[1] for oid in probe]
    check(all(g and "OVERWRITE" not in g for g in got),
          "D: no refused write became visible; the replica's values stay", repr(got[:3]))
    wait_verify(d, "D: the emptied node rejoins as a replica, verify clean", limit=60)


def phase_e(tmp):
    """E. fencing: with 1 shard x (primary + 2 replicas), the primary and one replica are
    paused (SIGSTOP), not dead. failover must refuse: once resumed, the paused replica
    could still acknowledge the paused primary's writes (split brain). After SIGCONT the
    cluster is whole again and nothing changed hands."""
    e = os.path.join(tmp, "e")
    base = free_base(4)
    rc, _, _ = expect(["local", "up", "--dir", e, "--shards", 1, "--replicas", 2,
                       "--base-port", base, "--no-sync"], 0, "E: local up 1 shard x 3 nodes")
    if rc != 0:
        return
    pids = []
    try:
        expect(["put", "--dir", e, "e-1", "before"], 0, "E: a write before the pause")
        for n in (0, 2):
            with open(os.path.join(e, f"node-{n}.pid")) as f:
                pids.append(int(f.read()))
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        expect(["failover", "--dir", e, "--shard", 0, "--timeout-ms", 1000], 1,
               "E: failover refuses while a replica does not answer", has="does not answer")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    rc, st = status_json(e)
    check(rc == 0 and node_entry(st, 0).get("role") == "primary",
          "E: after SIGCONT node 0 is still the only primary", repr(st)[:400])
    expect(["get", "--dir", e, "e-1"], 0, "E: the write is still there")
    expect(["local", "down", "--dir", e], 0, "E: local down")


def phase_f(tmp):
    f = os.path.join(tmp, "f")
    base = free_base(4)
    rc, _, _ = expect(["local", "up", "--dir", f, "--shards", 1, "--replicas", 2,
                       "--base-port", base, "--no-sync"], 0, "F: local up 1 shard x 3 nodes")
    if rc != 0:
        return

    def pid(n):
        with open(os.path.join(f, f"node-{n}.pid")) as fh:
            return int(fh.read())

    def primary():
        with open(os.path.join(f, "map.json")) as fh:
            return json.load(fh)["shards"][0]["primary"]

    paused = []
    try:
        for i in range(3):
            expect(["put", "--dir", f, f"f-a{i}", "A"], 0, f"F: acknowledged put f-a{i}")
        paused = [pid(1), pid(2)]
        for p in paused:
            os.kill(p, signal.SIGSTOP)
        for i in range(12):   # committed on node 0 only: never acknowledged
            run("put", "--dir", f, f"f-x{i}", "X", "--timeout-ms", 500)
        os.kill(pid(0), signal.SIGKILL)
        for p in paused:
            os.kill(p, signal.SIGCONT)
        paused = []
        time.sleep(0.5)
        expect(["failover", "--dir", f, "--shard", 0], 0, "F: first failover", has="promoted")
        newp = primary()
        end = time.monotonic() + 20   # the other replica follows the new primary
        while time.monotonic() < end:
            e = node_entry(status_json(f)[1], 3 - newp)
            if e.get("healthy") and e.get("epoch") == 2 and e.get("lag") == 0:
                break
            time.sleep(0.2)
        time.sleep(1.0)
        acked, end, i = [], time.monotonic() + 30, 0
        while len(acked) < 2 and time.monotonic() < end:   # the replica takes the new map
            if run("put", "--dir", f, f"f-y{i}", "Y", "--timeout-ms", 3000)[0] == 0:
                acked.append(f"f-y{i}")
            i += 1
        check(len(acked) == 2, "F: puts acknowledged by the new primary", repr(acked))
        paused = [pid(newp)]
        os.kill(paused[0], signal.SIGSTOP)
        expect(["local", "start", "--dir", f, 0], 0, "F: old primary restarted as a replica",
               has="replica of shard 0")
        rc, st = status_json(f)
        check(node_entry(st, 0).get("lsn", 0) > max(node_entry(st, n).get("lsn", 0)
                                                    for n in (1, 2) if n != newp),
              "F: the old primary holds more LSNs (of the old epoch)", repr(st)[:600])
        os.kill(paused[0], signal.SIGKILL)
        paused = []
        other = 3 - newp
        expect(["failover", "--dir", f, "--shard", 0], 0,
               "F: second failover promotes the replica of the newer epoch",
               has=f"promoted node {other}")
        for k in acked + ["f-a0", "f-a1", "f-a2"]:
            expect(["get", "--dir", f, k, "--timeout-ms", 3000], 0, f"F: acknowledged {k} readable")
    finally:
        for p in paused:
            os.kill(p, signal.SIGCONT)
        run("local", "down", "--dir", f)


def main():
    node_bin = ENV.get("ORDERSTORE_NODE_BIN", "")
    probe = subprocess.run([node_bin, "--help"], capture_output=True, text=True) if node_bin else None
    if probe is None or "sync-replicas" not in probe.stdout + probe.stderr:
        print("SKIP: orderstore-node has no replication (--sync-replicas) yet")
        return 77

    for sub in (["failover"], ["status"], ["verify"], ["local", "kill"], ["local", "start"]):
        expect(sub + ["--help"], 0, f"{' '.join(sub)} --help")
    expect(["failover", "--dir", "/nonexistent"], 2, "failover without --shard -> 2")
    expect(["local", "kill", "--dir", "/tmp", "1", "--primary-of", "0"], 2,
           "local kill with NODE and --primary-of -> 2")

    tmp = tempfile.mkdtemp(prefix="ostore-failover-")
    d = os.path.join(tmp, "c")
    try:
        base = free_base(6)
        rc, out, err = expect(["local", "up", "--dir", d, "--shards", 2, "--replicas", 1,
                               "--base-port", base, "--no-sync", "--log-retain-entries", 200], 0,
                              "local up 2 shards x (primary + 1 replica)")
        if rc != 0:
            return 1
        with open(os.path.join(d, "map.json")) as f:
            m = json.load(f)
        shards = {s["id"]: (s["primary"], s["replicas"]) for s in m["shards"]}
        check(shards == {0: (0, [1]), 1: (2, [3])}, "layout: shard s = node 2s + replica 2s+1",
              repr(shards))
        check(len(m["nodes"]) == 4 and all(n["addr"].endswith(str(base + 1 + n["id"]))
                                           for n in m["nodes"]), "node i listens on base+1+i")
        with open(os.path.join(d, "local.json")) as f:
            conf = json.load(f)
        check(conf.get("sync_replicas") == 1, "sync replicas default 1")
        check(conf.get("log_retain_entries") == 200, "local.json keeps --log-retain-entries")
        with open(os.path.join(d, "node-1.pid")) as f:
            with open(f"/proc/{int(f.read())}/cmdline", "rb") as g:
                args = g.read().split(b"\0")
        check(b"--log-retain-entries" in args and b"200" in args,
              "nodes run with --log-retain-entries 200", repr(args))
        rc, out, _ = expect(["local", "status", "--dir", d], 0, "local status")
        check("replica of shard 1" in out and "primary of shard 0" in out, "local status roles",
              out)
        rc, st = status_json(d)
        check(rc == 0 and node_entry(st, 0).get("role") == "primary"
              and node_entry(st, 1).get("role") == "replica", "status: roles reported", repr(st))

        # ---- A: replica of shard 1 killed and restarted under load
        w = Writers(d, "a").start()
        w.wait_acked(30)
        expect(["local", "kill", "--dir", d, 3], 0, "kill replica node 3", has="replica of shard 1")
        rc, st = status_json(d)
        check(rc == 1 and node_entry(st, 3).get("healthy") is False,
              "status: exit 1 and node 3 unhealthy", repr(st)[:400])
        time.sleep(1.5)
        expect(["local", "start", "--dir", d, 3], 0, "local start node 3", has="replica of shard 1")
        n0 = w.count()
        w.wait_acked(n0 + 30)
        acked = w.stop()
        print(f"     phase A: {len(acked)} acknowledged, {w.failed} failed puts")
        check(len(acked) >= 30, "phase A wrote orders")
        wait_verify(d, "A: verify clean after the replica caught up")
        check_acked(d, acked, "A")

        # ---- B: primary of shard 0 killed mid-load, failover
        w = Writers(d, "b").start()
        w.wait_acked(30)
        t_kill = time.monotonic()
        expect(["local", "kill", "--dir", d, "--primary-of", 0], 0, "kill the primary of shard 0",
               has="killed node 0")
        time.sleep(0.5)
        rc, out, err = expect(["failover", "--dir", d, "--shard", 0], 0, "failover --shard 0",
                              has="promoted node 1")
        print("     " + out.replace("\n", "\n     "))
        with open(os.path.join(d, "map.json")) as f:
            m2 = json.load(f)
        s0 = [s for s in m2["shards"] if s["id"] == 0][0]
        check(m2["epoch"] == m["epoch"] + 1 and s0["primary"] == 1 and s0["replicas"] == [0],
              "map.json: epoch + 1, node 1 primary, node 0 replica", repr(s0))
        time.sleep(2)
        expect(["local", "start", "--dir", d, 0], 0, "old primary restarted",
               has="replica of shard 0")
        n0 = w.count()
        w.wait_acked(n0 + 30)
        acked = w.stop()
        print(f"     phase B: {len(acked)} acknowledged, {w.failed} failed puts, "
              f"{time.monotonic() - t_kill:.1f} s since the kill")
        check_acked(d, acked, "B")
        wait_verify(d, "B: verify clean with the old primary as replica")
        rc, st = status_json(d)
        check(rc == 0 and node_entry(st, 0).get("role") == "replica"
              and node_entry(st, 1).get("role") == "primary",
              "status: node 0 replica, node 1 primary", repr(st)[:600])
        # The old primary refuses writes sent to it directly (its address as "router").
        node0 = [n["addr"] for n in m2["nodes"] if n["id"] == 0][0]
        refused = 0
        for i in range(8):
            rc, _, err = run("put", f"direct-{i}", "v", "--router", node0, "--timeout-ms", "2000")
            refused += rc != 0 and ("not the primary" in err or "another shard" in err)
        check(refused == 8, "old primary refuses direct writes", f"{refused} of 8 refused")
        ok = sum(run("put", f"after-{i}", "v", "--dir", d, "--timeout-ms", "5000")[0] == 0
                 for i in range(10))
        check(ok == 10, "writes succeed after failover and rejoin", f"{ok} of 10")
        all_acked = dict(acked)

        shard1_ids = phase_c(d, all_acked)
        phase_d(d, all_acked, shard1_ids)
        expect(["local", "down", "--dir", d], 0, "local down")
        phase_e(tmp)
        phase_f(tmp)
    finally:
        if os.path.isdir(d):
            run("local", "down", "--dir", d)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


def _terminated(signum, frame):
    """meson's timeout sends SIGTERM: leave through the finally blocks (local down)."""
    raise SystemExit(f"terminated by signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    try:
        rc = main()
    except Exception as e:  # report, do not hang or leave processes
        failures.append(repr(e))
        print(f"FAIL exception {e!r}")
        rc = 1
    sys.exit(rc)
