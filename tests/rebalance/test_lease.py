#!/usr/bin/env python3
"""Two rebalance runs at once (the migration lease, docs/rebalance.md "Crash safety").

3 shards (no replicas) loaded with the Online Retail orders (`import`, 25,900), then
`local add-shard` and, with ORDERSTORE_REBALANCE_LEASE_MS=2000 (a short lease so the
test is fast):
  1. run 1: `rebalance --rate 1` (slow) in the background;
  2. a second `rebalance` while run 1 runs: exit 1 naming run 1's lease, nothing printed
     about cleanup or moves; `rebalance --status` shows run 1 holding every lease;
  3. run 1 paused (SIGSTOP) for longer than the lease; run 3 (`rebalance`) takes over and
     finishes: exit 0, 1,024 slots per shard;
  4. run 1 resumed (SIGCONT): it stops on the lost lease (exit 1) and publishes no map
     (the map epoch stays run 3's);
  5. every order exported before is exported after with the same document (versions may
     grow across a move), `verify` is clean, every lease is free.
Usage: test_lease.py. Environment (meson test_env): OSTORE_CLI_BIN, OSTORE_NODE_BIN,
OSTORE_ROUTER_BIN, OSTORE_SOURCE_ROOT. Exit 77 (skipped) when a binary is missing.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from free_ports import free_base  # noqa: E402
from clitest import cli_env  # noqa: E402

CLI = os.environ.get("OSTORE_CLI_BIN", "")
ENV = cli_env()
ENV["ORDERSTORE_REBALANCE_LEASE_MS"] = "2000"
SRC = os.environ.get("OSTORE_SOURCE_ROOT",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

failures = []


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
    check(got[0] == rc, f"{what} (exit {got[0]}, want {rc})", got[1][-1500:] + got[2][-1500:])
    return got


def export(d):
    """order_id -> document without its version (a move may raise it)."""
    rc, out, err = run("export", "--dir", d, timeout=300)
    docs = {}
    for line in out.splitlines():
        doc = json.loads(line)
        doc.pop("version", None)
        docs[doc.get("order_id") or doc.get("order_id_hex")] = doc
    return rc, docs


def map_epoch(d):
    rc, out, _ = run("rebalance", "--status", "--dir", d)
    m = re.search(r"map epoch (\d+)", out)
    return int(m.group(1)) if m else -1, out


def main():
    for b in (CLI, ENV.get("ORDERSTORE_NODE_BIN"), ENV.get("ORDERSTORE_ROUTER_BIN")):
        if not b or not os.path.exists(b):
            print(f"SKIP: binary missing ({b!r})")
            return 77
    tmp = tempfile.mkdtemp(prefix="ostore-lease-")
    d = os.path.join(tmp, "c")
    run1 = None
    try:
        expect(["local", "up", "--dir", d, "--shards", 3, "--base-port", free_base(12),
                "--no-sync"], 0, "local up 3 shards")
        data = os.path.join(SRC, "data", "online-retail.csv.xz")
        expect(["import", data, "--dir", d], 0, "import the Online Retail orders", timeout=600)
        rc, before = export(d)
        check(rc == 0 and len(before) == 25900, "export before: 25,900 orders", str(len(before)))
        expect(["local", "add-shard", "--dir", d], 0, "local add-shard")

        # 1. the slow run
        out1 = open(os.path.join(tmp, "run1.out"), "w+")
        run1 = subprocess.Popen([CLI, "rebalance", "--dir", d, "--rate", "1"], env=ENV,
                                stdout=out1, stderr=subprocess.STDOUT, text=True)
        limit = time.time() + 30
        while time.time() < limit and run1.poll() is None:
            out1.seek(0)
            if "move 1/" in out1.read():
                break
            time.sleep(0.1)
        out1.seek(0)
        text = out1.read()
        check(run1.poll() is None and "move 1/" in text, "run 1 is moving slots", text[-800:])

        # 2. a second run while it runs: refused, changes nothing
        rc, out, err = run("rebalance", "--dir", d)
        check(rc == 1, f"a second rebalance exits 1 (got {rc})", out + err)
        check("another rebalance (run " in err and "holds the lease on node" in err and
              "run again after that" in err, "it names the lease holder", err)
        check(not any(w in out for w in ("rolled back", "removed", "move ", "map epoch")),
              "the second run cleaned up and moved nothing", out)
        epoch, status = map_epoch(d)
        holders = set(re.findall(r"primary \d+: run ([0-9a-f]{16})", status))
        check(len(holders) == 1 and status.count(": run ") == 4,
              "--status: one run holds the lease on all 4 primaries", status)

        # 3. run 1 paused past its lease; run 3 takes over and finishes
        run1.send_signal(signal.SIGSTOP)
        time.sleep(3.0)
        rc, out, err = run("rebalance", "--dir", d)
        check(rc == 0 and "moved:" in out, "run 3 takes over and finishes", out[-800:] + err)
        epoch3, _ = map_epoch(d)
        rc, out, _ = expect(["stats", "--json", "--dir", d], 0, "stats after run 3")
        st = json.loads(out)
        check([x["slots"] for x in st["shards"]] == [1024] * 4, "1024 slots per shard", out)

        # 4. run 1 wakes up: stops on the lost lease, publishes nothing
        run1.send_signal(signal.SIGCONT)
        try:
            rc1 = run1.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run1.kill()
            rc1 = run1.wait()
        out1.seek(0)
        text = out1.read()
        out1.close()
        run1 = None
        check(rc1 == 1, f"run 1 exits 1 after waking up (got {rc1})", text[-1200:])
        check("lost the migration lease" in text or "took over" in text,
              "run 1 says it lost the lease", text[-1200:])
        epoch4, status = map_epoch(d)
        check(epoch4 == epoch3, f"run 1 published no map (epoch {epoch4}, run 3 left {epoch3})")

        # 5. nothing lost
        rc, after = export(d)
        missing = [k for k in before if k not in after]
        changed = [k for k in before if k in after and after[k] != before[k]]
        check(rc == 0 and not missing and not changed and len(after) == len(before),
              "every order exported before is there after, unchanged",
              f"{len(missing)} missing, {len(changed)} changed, {len(after)} after")
        expect(["verify", "--dir", d], 0, "verify is clean")
        check(status.count(": free") == 4, "every lease is free at the end", status)
    finally:
        if run1 is not None and run1.poll() is None:
            run1.kill()
            run1.wait()
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
        sys.exit(main())
    except Exception as e:  # report, do not hang or leave processes
        print(f"FAIL exception {e!r}")
        sys.exit(1)
