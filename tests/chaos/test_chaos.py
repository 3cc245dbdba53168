#!/usr/bin/env python3
"""Bounded chaos test (issue #7): real processes, random faults, then a checker.

Every round, on a fresh cluster (`orderstore local up --shards 2 --replicas 2`: shard s =
primary + 2 replicas, synchronous replication K=1) plus a second router started by hand
(`orderstore-router --listen URL --seed NODE_URL ...`, also listed in DIR/routers so that
failover hands it the new map):

  clients   two os-loadcheck processes (writers + readers, --updates: writers also re-put
            their own acknowledged orders with a higher counter; readers check that no
            read is older than what was acknowledged to that client), each with both
            routers; every acknowledgement goes to an --acked file.
  faults    for --round-seconds, three fault threads, one per domain (shard 0's nodes,
            shard 1's nodes, the routers), each injecting one fault at a time, drawn
            from its own seeded generator:
              replica_kill      SIGKILL a replica, then `local start` it
              node_pause        SIGSTOP a node of the shard (primary or replica) 0.5-3 s
              primary_failover  SIGKILL the primary, `failover --shard S`, then `local
                                start` the old primary (it rejoins as a replica)
              router_pause      SIGSTOP a router 0.5-3 s
              router_kill       SIGKILL a router, start it again
            So at most one node per shard and one router are down or paused at a time:
            the faults the design promises to survive (K=1 writes still find a replica,
            a failover always finds a live replica and can fence the others). Admin
            commands (failover, local start) are serialized, as one operator runs them.
  checker   after the faults are healed and the clients stopped:
            - the clients' reports: 0 acknowledged orders not found, 0 wrong values,
              0 stale reads (a counter below the last one acknowledged to that client);
            - `export`: every acknowledged order is there with its LATEST acknowledged
              value (a higher counter is accepted only as a well-formed value of the same
              writer: an update whose put failed, outcome unknown, that landed anyway);
            - `orderstore verify` is clean (retried while replicas converge).
Per round it prints ops, faults by kind, acknowledged writes checked and lost; at the end
the totals. The first failing round stops the run; its seed replays it:
    test_chaos.py --loadcheck PATH --seed SEED --rounds 1

usage: test_chaos.py --loadcheck PATH [--rounds N] [--round-seconds S] [--seed SEED]
Environment (meson test_env): OSTORE_CLI_BIN, OSTORE_NODE_BIN, OSTORE_ROUTER_BIN;
OSTORE_KEEP_TMP=1 keeps the cluster directories. Exit 0 all rounds passed, 1 a check
failed, 77 (skipped) a binary is missing.
"""
import argparse
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
from free_ports import ephemeral_low, free_base  # noqa: E402 (shared with the other tests)
from clitest import cli_env  # noqa: E402

CLI = os.environ.get("OSTORE_CLI_BIN", "")
ROUTER_BIN = os.environ.get("OSTORE_ROUTER_BIN", "")
ENV = cli_env()

KINDS = ("replica_kill", "node_pause", "primary_failover", "router_pause", "router_kill")
SHARD_KINDS = (("replica_kill", 3), ("node_pause", 3), ("primary_failover", 2))
ROUTER_KINDS = (("router_pause", 1), ("router_kill", 1))
ADMIN_TIMEOUT_MS = 2000
VALUE_BYTES = 100


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(*args, timeout=120):
    argv = [CLI] + [str(a) for a in args]
    try:
        p = subprocess.run(argv, capture_output=True, env=ENV, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout} s: {' '.join(argv)}"
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def wait_dead(pid, limit=10.0):
    end = time.monotonic() + limit
    while pid_alive(pid) and time.monotonic() < end:
        time.sleep(0.02)
    return not pid_alive(pid)


class Round:
    """One round: cluster, second router, clients, fault threads, checker."""

    def __init__(self, tmp, loadcheck, index, seed, seconds):
        self.loadcheck, self.index, self.seed, self.seconds = loadcheck, index, seed, seconds
        self.dir = os.path.join(tmp, f"round-{index}")
        self.failures = []
        self.faults = {k: 0 for k in KINDS}
        self.events = []          # (time, domain, text): printed when the round fails
        self.lock = threading.Lock()
        self.admin = threading.Lock()  # failover / local start / router start: one at a time
        self.paused = set()       # pids under SIGSTOP, resumed whatever happens
        self.router_procs = {}    # "a" / "b" -> Popen of routers this test started
        self.router_cmd = {}
        self.router_url = {}
        self.clients = []
        self.t0 = time.monotonic()
        self.verbose = False

    # ---- bookkeeping
    def fail(self, what, detail=""):
        with self.lock:
            self.failures.append(f"{what}: {detail}" if detail else what)
        print(f"FAIL round {self.index} (seed {self.seed}): {what} {detail}", flush=True)

    def event(self, domain, text):
        with self.lock:
            self.events.append((time.monotonic() - self.t0, domain, text))

    def node_pid(self, node):
        with open(os.path.join(self.dir, f"node-{node}.pid")) as f:
            return int(f.read().strip())

    def shard_layout(self, shard):
        """(primary, replicas) of @shard from DIR/map.json (failover keeps it current)."""
        with self.admin:
            with open(os.path.join(self.dir, "map.json")) as f:
                m = json.load(f)
        s = [x for x in m["shards"] if x["id"] == shard][0]
        return s["primary"], list(s["replicas"])

    # ---- cluster
    def up(self):
        # Below the ephemeral range: while a node is down, the nng dialers that redial its
        # port can connect a socket to itself on it (TCP self-connect: source port = its
        # port) and the restarted node finds its address in use.
        base = free_base(8, below=ephemeral_low())
        rc, out, err = run("local", "up", "--dir", self.dir, "--shards", 2, "--replicas", 2,
                           "--base-port", base)
        if rc != 0:
            self.fail("local up", (out + err)[-800:])
            return False
        with open(os.path.join(self.dir, "router.pid")) as f:
            pid_a = int(f.read().strip())
        with open(f"/proc/{pid_a}/cmdline", "rb") as f:
            self.router_cmd["a"] = [a.decode() for a in f.read().split(b"\0") if a]
        self.router_url["a"] = f"tcp://127.0.0.1:{base}"
        self.router_url["b"] = f"tcp://127.0.0.1:{base + 7}"
        with open(os.path.join(self.dir, "map.json")) as f:
            nodes = [n["addr"] for n in json.load(f)["nodes"]]
        cmd = [ROUTER_BIN, "--listen", self.router_url["b"]]
        for addr in nodes:
            cmd += ["--seed", addr]
        self.router_cmd["b"] = cmd
        with open(os.path.join(self.dir, "routers"), "a") as f:
            f.write(self.router_url["b"] + "\n")
        return self.start_router("b")

    def router_pid(self, name):
        if name == "b" or "a" in self.router_procs:
            return self.router_procs[name].pid
        with open(os.path.join(self.dir, "router.pid")) as f:
            return int(f.read().strip())

    def start_router(self, name):
        with open(os.path.join(self.dir, f"router-{name}.log"), "ab") as lf:
            p = subprocess.Popen(self.router_cmd[name], stdout=lf, stderr=lf, env=ENV)
        self.router_procs[name] = p
        if name == "a":
            with open(os.path.join(self.dir, "router.pid"), "w") as f:
                f.write(f"{p.pid}\n")
        end = time.monotonic() + 15
        while time.monotonic() < end:
            # A get of a missing ID: "not found" once it serves, or a shard's error the
            # router relays (its primary may be down right now: a fault of another thread).
            rc, _, err = run("get", "chaos-probe", "--router", self.router_url[name],
                             "--timeout-ms", 1000, timeout=30)
            if rc in (0, 1) or any(m in err for m in ("shard unavailable", "not the primary",
                                                      "not enough replicas")):
                return True
            if p.poll() is not None:
                break
            time.sleep(0.2)
        self.fail(f"router {name} does not serve after its start", f"exit {p.poll()}")
        return False

    def local_start(self, node, domain):
        with self.admin:
            rc, out, err = run("local", "start", "--dir", self.dir, node, timeout=60)
        self.event(domain, f"local start node {node}: rc {rc} {out.strip()[-200:]}")
        if rc != 0:
            self.fail(f"local start node {node}", (out + err)[-800:])

    # ---- faults
    def stop_cont(self, pid, seconds):
        with self.lock:
            self.paused.add(pid)
        try:
            os.kill(pid, signal.SIGSTOP)
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
            with self.lock:
                self.paused.discard(pid)

    def shard_fault(self, rng, shard, kind):
        dom = f"shard {shard}"
        primary, replicas = self.shard_layout(shard)
        if kind == "replica_kill":
            node = rng.choice(replicas)
            pid = self.node_pid(node)
            os.kill(pid, signal.SIGKILL)
            wait_dead(pid)
            self.event(dom, f"SIGKILL replica node {node} (pid {pid})")
            time.sleep(rng.uniform(0.5, 2.0))
            self.local_start(node, dom)
        elif kind == "node_pause":
            node = rng.choice([primary] + replicas)
            secs = rng.uniform(0.5, 3.0)
            self.event(dom, f"SIGSTOP node {node} ({'primary' if node == primary else 'replica'})"
                            f" for {secs:.1f} s")
            self.stop_cont(self.node_pid(node), secs)
        else:  # primary_failover
            pid = self.node_pid(primary)
            os.kill(pid, signal.SIGKILL)
            wait_dead(pid)
            self.event(dom, f"SIGKILL primary node {primary} (pid {pid})")
            time.sleep(rng.uniform(0.2, 1.0))
            out = ""
            for attempt in range(3):
                with self.admin:
                    t = time.monotonic()
                    rc, out, err = run("failover", "--dir", self.dir, "--shard", shard,
                                       "--timeout-ms", ADMIN_TIMEOUT_MS, timeout=90)
                    t = time.monotonic() - t
                self.event(dom, f"failover --shard {shard} ({t:.1f} s): rc {rc} " +
                                " | ".join(ln.strip() for ln in (out + err).strip().splitlines()
                                           if self.verbose or "promoted" in ln))
                if rc == 0:
                    break
                out += err
                time.sleep(1)
            else:
                self.fail(f"failover --shard {shard} after SIGKILL of node {primary}", out[-800:])
            time.sleep(rng.uniform(0.5, 2.0))
            self.local_start(primary, dom)

    def router_fault(self, rng, kind):
        name = rng.choice(["a", "b"])
        pid = self.router_pid(name)
        if kind == "router_pause":
            secs = rng.uniform(0.5, 3.0)
            self.event("routers", f"SIGSTOP router {name} for {secs:.1f} s")
            self.stop_cont(pid, secs)
        else:
            os.kill(pid, signal.SIGKILL)
            wait_dead(pid)
            p = self.router_procs.get(name)
            if p is not None:
                p.wait(timeout=10)
            self.event("routers", f"SIGKILL router {name} (pid {pid})")
            time.sleep(rng.uniform(0.3, 1.5))
            ok = self.start_router(name)
            self.event("routers", f"router {name} started again: {ok}")

    def domain_loop(self, domain, end):
        rng = random.Random(f"{self.seed}/{domain}")
        kinds = ROUTER_KINDS if domain == "routers" else SHARD_KINDS
        try:
            while True:
                time.sleep(rng.uniform(0.3, 1.5))
                if time.monotonic() >= end or self.failures:
                    return
                kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
                with self.lock:
                    self.faults[kind] += 1
                if domain == "routers":
                    self.router_fault(rng, kind)
                else:
                    self.shard_fault(rng, int(domain[-1]), kind)
        except Exception as e:  # noqa: BLE001 (a broken fault thread fails the round)
            self.fail(f"fault thread {domain}", repr(e))

    # ---- clients
    def start_clients(self):
        for tag, order in (("c1", ("a", "b")), ("c2", ("b", "a"))):
            prefix = f"r{self.index}{tag}"
            acked = os.path.join(self.dir, f"{prefix}.acked")
            report = os.path.join(self.dir, f"{prefix}.report.json")
            argv = [self.loadcheck, "--prefix", prefix, "--writers", 3, "--readers", 3,
                    "--updates", 30, "--value-bytes", VALUE_BYTES,
                    "--seconds", int(self.seconds) + 120, "--acked", acked, "--report", report]
            for r in order:
                argv += ["--router", self.router_url[r]]
            lf = open(os.path.join(self.dir, f"{prefix}.log"), "wb")
            p = subprocess.Popen([str(a) for a in argv], stdout=lf, stderr=lf)
            self.clients.append((prefix, p, lf, acked, report))

    def stop_clients(self):
        reports = {}
        for prefix, p, lf, _acked, report in self.clients:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=60)   # each operation ends within 3 x 5 s
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.fail(f"client {prefix} did not stop within 60 s of SIGTERM")
            lf.close()
            try:
                with open(report) as f:
                    reports[prefix] = json.load(f)
            except (OSError, ValueError) as e:
                self.fail(f"client {prefix} report", repr(e))
        return reports

    # ---- checker
    def check(self, reports):
        ops = sum(r.get("writes", 0) + r.get("reads", 0) for r in reports.values())
        for prefix, r in reports.items():
            for key in ("notfound_acked", "wrong_value", "stale_reads"):
                n = r.get(key, {}).get("count")
                if n != 0:
                    self.fail(f"client {prefix}: {key} {n}", repr(r.get(key)))
            if r.get("stopped_by") != "signal" or r.get("acked_memory_full"):
                self.fail(f"client {prefix} ended early ({r.get('stopped_by')})", repr(r)[:600])
            if r.get("writes_acked", 0) == 0 or r.get("updates_acked", 0) == 0:
                self.fail(f"client {prefix}: no acknowledged writes or updates", repr(r)[:600])
        acked = {}
        acked_lines = 0
        for prefix, _p, _lf, path, _report in self.clients:
            try:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        parts = line.rstrip("\n").split("\t")
                        if len(parts) != 3:
                            self.fail(f"client {prefix}: malformed --acked line", repr(line))
                            continue
                        acked[parts[0]] = parts[1]   # the last line of an ID is its newest
                        acked_lines += 1
            except OSError as e:
                self.fail(f"client {prefix}: --acked file", repr(e))
        got = None
        for _ in range(5):
            rc, out, err = run("export", "--dir", self.dir, "--timeout-ms", 5000, timeout=300)
            if rc == 0:
                got = {}
                for line in out.splitlines():
                    if line:
                        doc = json.loads(line)
                        got[doc["order_id"]] = doc.get("value")
                break
            time.sleep(1)
        lost, stale, wrong, newer = [], [], [], []
        if got is None:
            self.fail("export", err[-800:])
        else:
            for oid, value in acked.items():
                have = got.get(oid)
                if have is None:
                    lost.append(oid)
                elif have != value:
                    c_ack, c_have = counter_of(oid, value), counter_of(oid, have)
                    if c_have is None:
                        wrong.append(oid)
                    elif c_have < c_ack:
                        stale.append(oid)
                    else:
                        newer.append(oid)
            for what, ids in (("lost", lost), ("older than acknowledged", stale),
                              ("with a foreign value", wrong)):
                if ids:
                    self.fail(f"{len(ids)} acknowledged orders {what}",
                              ", ".join(f"{i}: acked {acked[i][:24]!r} has {str(got.get(i))[:24]!r}"
                                        for i in ids[:5]))
        # Replicas converge (verify), retried while they catch up.
        end = time.monotonic() + 60
        rc, out, err = None, "", ""
        while time.monotonic() < end:
            rc, out, err = run("verify", "--dir", self.dir, "--wait-ms", 3000, timeout=120)
            if rc == 0 and "in sync" in out:
                break
            time.sleep(1)
        if not (rc == 0 and "in sync" in out):
            self.fail("verify", f"rc {rc}: {out[-800:]} {err[-400:]}")
        return {"ops": ops, "acked_ids": len(acked), "acked_writes": acked_lines,
                "lost": len(lost) if got is not None else None, "stale": len(stale),
                "newer_unacked": len(newer),
                "updates_acked": sum(r.get("updates_acked", 0) for r in reports.values()),
                "stale_reads": sum(r.get("stale_reads", {}).get("count", 0)
                                   for r in reports.values())}

    # ---- the round
    def play(self):
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        figures = None
        try:
            if not self.up():
                return None
            self.start_clients()
            time.sleep(1.0)   # some acknowledged orders before the first fault
            end = time.monotonic() + self.seconds
            threads = [threading.Thread(target=self.domain_loop, args=(d, end))
                       for d in ("shard 0", "shard 1", "routers")]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=self.seconds + 300)
                if th.is_alive():
                    self.fail("a fault thread did not finish")
            time.sleep(1.0)   # the clients go on a little on the healed cluster
            reports = self.stop_clients()
            figures = self.check(reports)
            figures["faults"] = dict(self.faults)
            return figures
        except Exception as e:  # noqa: BLE001 (report it, clean up, fail the round)
            self.fail("exception", repr(e))
            return None
        finally:
            self.teardown()

    def teardown(self):
        for pid in list(self.paused):
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        for _prefix, p, lf, _a, _r in self.clients:
            if p.poll() is None:
                p.kill()
                p.wait()
            lf.close()
        if os.path.isdir(self.dir):
            run("local", "down", "--dir", self.dir, timeout=60)
        for p in self.router_procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()
        if os.path.isdir(self.dir):   # anything a pid file still names, by PID
            for name in os.listdir(self.dir):
                if name.endswith(".pid"):
                    try:
                        with open(os.path.join(self.dir, name)) as f:
                            os.kill(int(f.read().strip()), signal.SIGKILL)
                    except (ValueError, OSError):
                        pass
        if self.failures or self.verbose:
            print(f"--- round {self.index} (seed {self.seed}) fault timeline:")
            for t, dom, text in sorted(self.events):
                print(f"  {t:7.2f}s  {dom:8}  {text}")
        if self.failures:
            for name in sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else []:
                if name.endswith(".log") and name.startswith(("node", "router")):
                    with open(os.path.join(self.dir, name), errors="replace") as f:
                        bad = [ln.rstrip() for ln in f if "ERROR" in ln or "WARN" in ln]
                    if bad:
                        print(f"--- {name}: last warnings/errors")
                        for ln in bad[-8:]:
                            print("  " + ln)


def counter_of(oid, value):
    """The counter of an os-loadcheck value of @oid ('ID|c=N|' padded with '.'), or None."""
    head = oid + "|c="
    if not isinstance(value, str) or not value.startswith(head):
        return None
    num, sep, rest = value[len(head):].partition("|")
    if not num.isdigit() or sep != "|" or len(value) != max(VALUE_BYTES, len(head) + len(num) + 1) \
            or rest.strip(".") != "":
        return None
    return int(num)


def main():
    ap = argparse.ArgumentParser(description="bounded chaos test (issue #7)")
    ap.add_argument("--loadcheck", required=True, help="path of os-loadcheck")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--round-seconds", type=float, default=15.0)
    ap.add_argument("--verbose", action="store_true", help="print every round's fault timeline")
    ap.add_argument("--seed", type=int, default=None,
                    help="seed of the first round (round i uses SEED + i)")
    a = ap.parse_args()
    if not (CLI and ROUTER_BIN and os.environ.get("OSTORE_NODE_BIN")
            and os.path.exists(a.loadcheck)):
        print("SKIP: OSTORE_CLI_BIN, OSTORE_NODE_BIN, OSTORE_ROUTER_BIN or os-loadcheck missing")
        return 77
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1, 2**31)
    log(f"chaos: {a.rounds} round(s) of {a.round_seconds:g} s, seed {seed} "
        f"(replay a round: --seed <its seed> --rounds 1)")
    tmp = tempfile.mkdtemp(prefix="ostore-chaos-")
    totals = {"rounds": 0, "ops": 0, "acked_ids": 0, "acked_writes": 0, "lost": 0,
              "faults": {k: 0 for k in KINDS}}
    rc = 0
    try:
        for i in range(a.rounds):
            rseed = seed + i
            r = Round(tmp, a.loadcheck, i, rseed, a.round_seconds)
            r.verbose = a.verbose
            log(f"round {i + 1}/{a.rounds} seed {rseed}")
            fig = r.play()
            if fig is not None:
                f = fig["faults"]
                log(f"round {i + 1}: ops {fig['ops']}, faults {sum(f.values())} "
                    f"({', '.join(f'{k} {v}' for k, v in f.items())}), "
                    f"acknowledged writes checked {fig['acked_writes']} on {fig['acked_ids']} "
                    f"orders ({fig['updates_acked']} updates), lost {fig['lost']}, "
                    f"older {fig['stale']}, stale reads {fig['stale_reads']}, "
                    f"newer unacknowledged {fig['newer_unacked']}")
            if r.failures or fig is None:
                log(f"round {i + 1} FAILED (seed {rseed}): {len(r.failures)} failure(s); "
                    f"replay: --seed {rseed} --rounds 1 --round-seconds {a.round_seconds:g}")
                rc = 1
                break
            totals["rounds"] += 1
            for k in ("ops", "acked_ids", "acked_writes", "lost"):
                totals[k] += fig[k]
            for k, v in fig["faults"].items():
                totals["faults"][k] += v
    finally:
        if os.environ.get("OSTORE_KEEP_TMP"):
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    f = totals["faults"]
    log(f"chaos totals: rounds passed {totals['rounds']}/{a.rounds}, ops {totals['ops']}, "
        f"faults {sum(f.values())} ({', '.join(f'{k} {v}' for k, v in f.items())}), "
        f"acknowledged writes checked {totals['acked_writes']} on {totals['acked_ids']} orders, "
        f"lost {totals['lost']}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
