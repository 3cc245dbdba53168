#!/usr/bin/python3
"""Online rebalancing end to end (issue #4), with real processes on loopback.

3 shards x (primary + 1 replica, synchronous), loaded with the Online Retail orders
(`import`, 25,900) plus generated ones (os-loadcheck writers) to at least --orders
(default 50,000). Then, with os-loadcheck writers and readers running and recording
every acknowledgement:
  1. `local add-shard` + `rebalance`: every shard ends with 1,024 slots; the slots that
     changed owner are exactly the 1,024 the new shard took (none moved between old
     shards); each shard stores exactly the orders of its slots (per-shard order counts
     from STATS equal the counts of exported orders by slot owner: nothing left behind,
     nothing stored twice); every acknowledged write is readable with its content; no
     read of an acknowledged order answered "not found"; replicas are in sync (verify).
     A second router, paused (SIGSTOP) through the whole rebalance, is resumed: reads and
     writes through it succeed and its metrics show it followed "moved" answers.
  2. `remove-shard 3`, the tool SIGKILLed in the middle and run again: back to 3 shards,
     the same checks. (Run at once, it is refused while the killed run's migration lease
     lasts, ORDERSTORE_REBALANCE_LEASE_MS = 10 s here; then it finishes.)
  3. `add-shard` again with `rebalance` SIGKILLed in the middle and run again (the same).
Foreground latency before and during the first move and the move rate are printed (the
figures of the closing note; never asserted: speed is for benchmarks).

Slot of an order: XXH3_64(id) mod 4096 (python3-xxhash, Debian's, hence /usr/bin/python3).
Usage: test_rebalance.py [OS_LOADCHECK_BIN]. Environment (meson test_env): OSTORE_CLI_BIN,
OSTORE_NODE_BIN, OSTORE_ROUTER_BIN; OSTORE_REBALANCE_ORDERS (default 50000). Exit 77
(skipped) when a binary or the rebalance command is missing.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import xxhash

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from free_ports import free_base  # noqa: E402
from clitest import cli_env  # noqa: E402

CLI = os.environ.get("OSTORE_CLI_BIN", "")
LOADCHECK = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OSTORE_LOADCHECK_BIN", "")
ROUTER_BIN = os.environ.get("OSTORE_ROUTER_BIN", "")
ENV = cli_env()
SRC = os.environ.get("OSTORE_SOURCE_ROOT",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ORDERS = int(os.environ.get("OSTORE_REBALANCE_ORDERS", "50000"))
# The migration lease of the tool (30 s by default): shorter, so the runs after a
# SIGKILL wait less; still far above the longest step under this load.
LEASE_MS = 10000
ENV["ORDERSTORE_REBALANCE_LEASE_MS"] = str(LEASE_MS)
SLOTS = 4096

failures = []
figures = {}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(*args, timeout=300):
    argv = [CLI] + [str(a) for a in args]
    p = subprocess.run(argv, capture_output=True, env=ENV, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond or not detail else f": {detail}"),
          flush=True)
    if not cond:
        failures.append(what)
    return cond


def expect(args, rc, what, timeout=300):
    got = run(*args, timeout=timeout)
    check(got[0] == rc, f"{what} (exit {got[0]}, want {rc})", (got[1][-1500:] + got[2][-1500:]))
    return got


def slot_of(oid):
    return xxhash.xxh3_64_intdigest(oid.encode()) % SLOTS


def load_map(d):
    with open(os.path.join(d, "map.json")) as f:
        m = json.load(f)
    owner = [None] * SLOTS
    for first, last, shard in m["slots"]:
        for s in range(first, last + 1):
            owner[s] = shard
    return m, owner


class Loadcheck:
    """os-loadcheck in the background: writers record every acknowledged order."""

    def __init__(self, tmp, routers, prefix, writers, readers, seconds, max_ops, value_bytes=300):
        self.acked_path = os.path.join(tmp, f"{prefix}.acked")
        self.report_path = os.path.join(tmp, f"{prefix}.report.json")
        argv = [LOADCHECK, "--prefix", prefix, "--writers", writers, "--readers", readers,
                "--seconds", seconds, "--max-ops", max_ops, "--value-bytes", value_bytes,
                "--acked", self.acked_path, "--report", self.report_path]
        for r in routers:
            argv += ["--router", r]
        self.log = open(os.path.join(tmp, f"{prefix}.log"), "wb")
        self.p = subprocess.Popen([str(a) for a in argv], stdout=self.log, stderr=self.log)

    def stop(self, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()
        return self.report()

    def wait(self, timeout):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.stop()
        self.log.close()
        return self.report()

    def report(self):
        try:
            with open(self.report_path) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            return {"error": str(e)}

    def acked(self):
        """id -> value of every acknowledged write (the last one per id)."""
        out = {}
        try:
            with open(self.acked_path, encoding="utf-8") as f:
                for line in f:
                    line = line.rstrip("\n")
                    if not line:
                        continue
                    oid, value, _version = line.split("\t")
                    out[oid] = value
        except OSError:
            pass
        return out


def export_all(d):
    rc, out, err = run("export", "--dir", d, timeout=600)
    if not check(rc == 0, "export", err[-500:]):
        return {}
    got = {}
    for line in out.splitlines():
        if line:
            doc = json.loads(line)
            got[doc["order_id"]] = doc
    return got


def same_content(doc, value):
    """An exported line against the acknowledged value (own JSON document or wrapped)."""
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if parsed is not None and doc == parsed:
        return True
    inner = doc.get("value")
    return inner is not None and (inner == parsed or inner == value)


def stats(d):
    rc, out, err = run("stats", "--json", "--dir", d)
    try:
        return rc, json.loads(out)
    except ValueError:
        return rc, {"error": out + err}


def wait_verify(d, what, limit=60):
    end = time.monotonic() + limit
    rc, out, err = None, "", ""
    while time.monotonic() < end:
        rc, out, err = run("verify", "--dir", d, "--wait-ms", "3000")
        if rc == 0:
            break
        time.sleep(1)
    check(rc == 0 and "in sync" in out, what, f"(rc {rc}; {out[-800:]!r} {err[-400:]!r})")


def check_cluster(d, what, owner_before, acked, nshards, want_slots, moved_to=None):
    """The checks shared by every phase (see the module docstring)."""
    m, owner = load_map(d)
    counts = {}
    for s in owner:
        counts[s] = counts.get(s, 0) + 1
    check(len(m["shards"]) == nshards and all(counts.get(sh["id"], 0) in want_slots
                                              for sh in m["shards"]),
          f"{what}: {nshards} shards with {sorted(want_slots)} slots each", repr(counts))
    moved = [s for s in range(SLOTS) if owner[s] != owner_before[s]]
    if moved_to is not None:
        check(all(owner[s] == moved_to for s in moved),
              f"{what}: every moved slot went to shard {moved_to} (none between old shards)",
              repr(sorted({(owner_before[s], owner[s]) for s in moved})))
    else:
        gone = {owner_before[s] for s in moved}
        check(all(owner_before[s] not in [sh["id"] for sh in m["shards"]] for s in moved),
              f"{what}: only the removed shard's slots moved", repr(gone))
    got = export_all(d)
    missing = [k for k in acked if k not in got]
    wrong = [k for k in acked if k in got and not same_content(got[k], acked[k])]
    check(not missing and not wrong,
          f"{what}: all {len(acked)} acknowledged orders readable with their content",
          f"missing {len(missing)} {missing[:5]}, wrong content {len(wrong)} {wrong[:5]}")
    by_owner = {}
    for oid in got:
        sh = owner[slot_of(oid)]
        by_owner[sh] = by_owner.get(sh, 0) + 1
    rc, st = stats(d)
    stored = {sh["id"]: sh.get("orders") for sh in st.get("shards", [])}
    check(rc == 0 and stored == {sh: by_owner.get(sh, 0) for sh in stored}
          and sum(stored.values()) == len(got),
          f"{what}: each shard stores exactly the orders of its slots ({len(got)} orders)",
          f"stored {stored}, by slot owner {by_owner}")
    wait_verify(d, f"{what}: replicas in sync with their primaries")
    return moved, got


def count_of(rep, key):
    v = rep.get(key, 0)
    return v.get("count", 0) if isinstance(v, dict) else v


def check_report(rep, what):
    ok = "error" not in rep
    check(ok and count_of(rep, "notfound_acked") == 0 and count_of(rep, "wrong_value") == 0,
          f"{what}: no read of an acknowledged order answered not found or another value",
          json.dumps(rep)[:800])
    check(ok and rep.get("writes_acked", 0) > 0 and rep.get("reads", 0) > 0,
          f"{what}: writers and readers made progress", json.dumps(rep)[:400])


def lat(rep, op):
    o = rep.get("latency_us", {}).get(op, {}) if isinstance(rep.get("latency_us"), dict) else {}
    return o.get("p50"), o.get("p99")


def rebalance_killed(d, argv, what, after_moves=3, limit=240):
    """Runs the tool, SIGKILLs it once the map moved @after_moves epochs, runs it again."""
    m0, _ = load_map(d)
    log_path = os.path.join(d, "rebalance-killed.log")
    with open(log_path, "wb") as lf:
        p = subprocess.Popen([CLI] + [str(a) for a in argv], stdout=lf, stderr=lf, env=ENV)
        end = time.monotonic() + limit
        killed = False
        while time.monotonic() < end and p.poll() is None:
            try:
                m, _ = load_map(d)
            except (OSError, ValueError):
                m = m0
            if m["epoch"] >= m0["epoch"] + after_moves:
                p.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.02)
        p.wait()
    check(killed, f"{what}: the tool was SIGKILLed in the middle of the move",
          f"exit {p.returncode}; the tool finished before {after_moves} map changes")
    if killed:
        # The killed run's migration lease outlives it: a run at once is refused (and
        # changes nothing); once the lease expired the caller runs it again.
        t_kill = time.monotonic()
        rc, out, err = run(*argv)
        check(rc == 1 and "holds the lease" in err,
              f"{what}: run again at once: refused while the killed run's lease lasts",
              out[-600:] + err[-600:])
        time.sleep(max(0.0, LEASE_MS / 1000.0 + 1.0 - (time.monotonic() - t_kill)))
    return killed


def metric_sum(url, name):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    for b in (CLI, LOADCHECK, ROUTER_BIN):
        if not b or not os.path.exists(b):
            print(f"SKIP: binary missing ({b!r})")
            return 77
    probe = run("rebalance", "--help")
    if probe[0] != 0:
        print("SKIP: orderstore has no rebalance command")
        return 77
    tmp = tempfile.mkdtemp(prefix="ostore-rebalance-")
    d = os.path.join(tmp, "c")
    router2 = None
    try:
        base = free_base(16)
        expect(["local", "up", "--dir", d, "--shards", 3, "--replicas", 1, "--base-port", base,
                "--metrics-offset", 100], 0, "local up 3 shards x (primary + 1 replica)")
        with open(os.path.join(d, "routers")) as f:
            r1 = f.readline().strip()
        # ---- load: the real data, then generated orders up to ORDERS
        data = os.path.join(SRC, "data", "online-retail.csv.xz")
        expect(["import", data, "--dir", d], 0, "import the Online Retail orders", timeout=600)
        rc, st = stats(d)
        have = st.get("total_orders", 0)
        gen = Loadcheck(tmp, [r1], "gen", 8, 0, 300, max(ORDERS - have, 1), value_bytes=400)
        rep = gen.wait(400)
        loaded = gen.acked()
        rc, st = stats(d)
        check(rc == 0 and st.get("total_orders", 0) >= ORDERS,
              f"loaded at least {ORDERS} orders", f"{st.get('total_orders')} ({rep})")
        log(f"loaded {st.get('total_orders')} orders")
        acked = dict(loaded)

        # ---- a second router, paused through the whole first rebalance
        m, owner0 = load_map(d)
        r2 = f"tcp://127.0.0.1:{base + 15}"
        r2_metrics = f"127.0.0.1:{base + 115}"
        router2 = subprocess.Popen([ROUTER_BIN, "--listen", r2, "--seed", m["nodes"][0]["addr"],
                                    "--metrics-addr", r2_metrics],
                                   stdout=open(os.path.join(tmp, "router2.log"), "wb"),
                                   stderr=subprocess.STDOUT)
        warm = Loadcheck(tmp, [r2], "warm", 2, 2, 3, 2000)
        check_report(warm.wait(60), "second router before the pause")
        acked.update(warm.acked())

        # ---- 1. add a shard and rebalance under load
        before = Loadcheck(tmp, [r1], "before", 4, 4, 5, 10**7)
        rep_before = before.wait(60)
        check_report(rep_before, "load before the move")
        acked.update(before.acked())
        moved_before = metric_sum(f"http://{r2_metrics}/metrics",
                                  "orderstore_router_moved_redirects_total")
        router2.send_signal(signal.SIGSTOP)
        live = Loadcheck(tmp, [r1], "live1", 4, 4, 600, 10**7)
        time.sleep(1)
        expect(["local", "add-shard", "--dir", d, "--replicas", 1], 0, "local add-shard")
        t0 = time.monotonic()
        rc, out, err = expect(["rebalance", "--dir", d], 0, "rebalance 3 -> 4 shards", timeout=900)
        secs = time.monotonic() - t0
        rep_live = live.stop()
        check_report(rep_live, "load during the move 3 -> 4")
        acked.update(live.acked())
        figures["rebalance_3_to_4_s"] = round(secs, 2)
        figures["rebalance_output_tail"] = out.strip().splitlines()[-3:]
        figures["latency_before_put_p50_p99_us"] = lat(rep_before, "put")
        figures["latency_before_get_p50_p99_us"] = lat(rep_before, "get")
        figures["latency_during_put_p50_p99_us"] = lat(rep_live, "put")
        figures["latency_during_get_p50_p99_us"] = lat(rep_live, "get")
        moved, got = check_cluster(d, "3 -> 4", owner0, acked, 4, {1024}, moved_to=3)
        check(len(moved) == 1024, "3 -> 4: exactly 1,024 slots changed owner", str(len(moved)))
        r1m = f"http://127.0.0.1:{base + 100}/metrics"
        pend = metric_sum(r1m, "orderstore_rebalance_slots_pending")
        done = metric_sum(r1m, "orderstore_rebalance_slots_moved_total")
        new_slots = metric_sum(r1m, 'orderstore_shard_slots{shard="3"}')
        imported = sum(metric_sum(f"http://127.0.0.1:{base + 101 + n}/metrics",
                                  "orderstore_migration_orders_imported_total") or 0
                       for n in (6, 7))
        check(pend == 0 and done is not None and done >= 1024 and new_slots == 1024
              and imported > 0,
              "3 -> 4: router metrics show 0 slots pending, >= 1024 moved, 1024 on shard 3; "
              "the new shard's nodes count imported orders",
              f"pending {pend}, moved {done}, shard 3 {new_slots}, imported {imported}")
        moved_orders = sum(1 for oid in got if slot_of(oid) in set(moved))
        figures["moved_orders_3_to_4"] = moved_orders
        figures["moved_orders_per_s"] = round(moved_orders / secs) if secs > 0 else None

        # the paused router wakes up with the old map: requests queued while it was
        # paused, all for orders of moved slots, go to their old owners first
        stale = [(oid, v) for oid, v in acked.items() if slot_of(oid) in set(moved)][:40]
        results = []

        def stale_get(oid, value):
            rc, out, err = run("get", oid, "--router", r2, "--timeout-ms", 8000)
            results.append((oid, rc == 0 and out == value, err[-200:]))

        threads = [threading.Thread(target=stale_get, args=kv) for kv in stale]
        for t in threads:
            t.start()
        time.sleep(1.0)
        router2.send_signal(signal.SIGCONT)
        for t in threads:
            t.join()
        bad = [r for r in results if not r[1]]
        check(len(stale) >= 20 and not bad,
              f"resumed router: {len(stale)} reads of moved orders queued while it was paused "
              "answered with their acknowledged content", repr(bad[:3]))
        moved_after = metric_sum(f"http://{r2_metrics}/metrics",
                                 "orderstore_router_moved_redirects_total")
        check(moved_after is not None and moved_after > (moved_before or 0),
              "resumed router: stale requests were answered 'moved' and retried",
              f"{moved_before} -> {moved_after}")
        wake = Loadcheck(tmp, [r2], "wake", 2, 4, 4, 4000)
        rep_wake = wake.wait(60)
        check_report(rep_wake, "resumed router")
        check(not rep_wake.get("write_errors") and not count_of(rep_wake, "notfound_acked"),
              "resumed router: every write succeeded", json.dumps(rep_wake)[:600])
        acked.update(wake.acked())

        # ---- 2. remove-shard 3, killed in the middle, run again
        _, owner1 = load_map(d)
        live = Loadcheck(tmp, [r1], "live2", 3, 3, 600, 10**7)
        rebalance_killed(d, ["remove-shard", 3, "--dir", d], "remove-shard")
        expect(["remove-shard", 3, "--dir", d], 0, "remove-shard 3 run again", timeout=900)
        rep = live.stop()
        check_report(rep, "load during remove-shard")
        acked.update(live.acked())
        check_cluster(d, "4 -> 3", owner1, acked, 3, {1365, 1366})

        # ---- 3. add a shard again, the rebalance killed in the middle and run again
        _, owner2 = load_map(d)
        live = Loadcheck(tmp, [r1], "live3", 3, 3, 600, 10**7)
        expect(["local", "add-shard", "--dir", d, "--replicas", 1], 0, "local add-shard again")
        m, _ = load_map(d)
        new_id = max(sh["id"] for sh in m["shards"])
        rebalance_killed(d, ["rebalance", "--dir", d], "rebalance")
        expect(["rebalance", "--dir", d], 0, "rebalance run again", timeout=900)
        rep = live.stop()
        check_report(rep, "load during the killed rebalance")
        acked.update(live.acked())
        moved, _ = check_cluster(d, "3 -> 4 after a crash", owner2, acked, 4, {1024},
                                 moved_to=new_id)
        check(len(moved) == 1024, "3 -> 4 after a crash: exactly 1,024 slots changed owner",
              str(len(moved)))
    finally:
        if router2 is not None:
            router2.send_signal(signal.SIGCONT)
            router2.kill()
            router2.wait()
        run("local", "down", "--dir", d, timeout=120)
        print("figures: " + json.dumps(figures), flush=True)
        if failures:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


def _terminated(signum, frame):
    """meson's timeout sends SIGTERM: leave through the finally blocks (local down)."""
    raise SystemExit(f"terminated by signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(main())
