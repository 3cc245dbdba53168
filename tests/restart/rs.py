"""Helpers shared by the restart and storage tests (tests/restart): the CLI, checks,
a local cluster under a temporary directory and /metrics. Real processes only; every
process is stopped by PID at the end (`local down`, then SIGKILL of what is left)."""
import glob
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from free_ports import free_base  # noqa: E402
from clitest import CliTest  # noqa: E402

CLI = os.environ["OSTORE_CLI_BIN"]
NODE = os.environ["OSTORE_NODE_BIN"]
ENV = dict(os.environ)
ENV.pop("ORDERSTORE_ROUTER", None)
ENV["ORDERSTORE_NODE_BIN"] = NODE
if os.environ.get("OSTORE_ROUTER_BIN"):
    ENV["ORDERSTORE_ROUTER_BIN"] = os.environ["OSTORE_ROUTER_BIN"]

_t = CliTest(CLI, ENV)
run, check, expect, failures = _t.run, _t.check, _t.expect, _t.failures


def _on_sigterm(signum, frame):
    raise SystemExit(f"killed by signal {signum} (meson timeout?)")


# meson ends a test that runs past its timeout with SIGTERM: the `finally` blocks must
# still stop the cluster and unmount the tmpfs.
signal.signal(signal.SIGTERM, _on_sigterm)


class Cluster:
    """`orderstore local up` in a fresh temporary directory; stop() kills by PID."""

    def __init__(self, shards, replicas, extra=(), env=None):
        self.tmp = tempfile.mkdtemp(prefix="ostore-restart-")
        self.dir = os.path.join(self.tmp, "c")
        self.env = env or ENV
        self.nodes = shards * (replicas + 1)
        self.base = free_base(self.nodes + 1)
        rc, out, err = run("local", "up", "--dir", self.dir, "--shards", shards, "--replicas",
                           replicas, "--base-port", self.base, *extra, timeout=120, env=self.env)
        self.ok = check(rc == 0, f"local up ({shards} shard(s) x {replicas + 1})",
                        f"rc {rc} {out[-400:]!r} {err[-800:]!r}")

    def node_url(self, i):
        return f"tcp://127.0.0.1:{self.base + 1 + i}"

    def metrics(self, i):
        url = f"http://127.0.0.1:{self.base + 1 + i + 100}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode()
        except OSError as e:
            return f"# error {e}"

    def metric(self, i, name_labels):
        m = re.search(r"^" + re.escape(name_labels) + r" (\S+)$", self.metrics(i), re.M)
        return float(m.group(1)) if m else None

    def pid(self, name):
        try:
            with open(os.path.join(self.dir, name + ".pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return 0

    def log(self, i):
        try:
            with open(os.path.join(self.dir, f"node-{i}.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if os.path.isdir(self.dir):
            run("local", "down", "--dir", self.dir, timeout=60, env=self.env)
            for name in [f"node-{i}" for i in range(self.nodes)] + ["router-0"]:
                pid = self.pid(name)
                if pid > 0:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass

    def cleanup(self):
        if not os.path.isdir(self.tmp):
            return
        self.stop()
        reports = []
        for log in glob.glob(os.path.join(self.dir, "*.log")):
            with open(log, errors="replace") as f:
                reports += [os.path.basename(log) + ": " + ln.strip() for ln in f
                            if "Sanitizer" in ln or "runtime error:" in ln]
        check(not reports, "no sanitizer report in the process logs", str(reports[:3]))
        shutil.rmtree(self.tmp, ignore_errors=True)


def export_values(c, env=None):
    """Every order of the cluster, one `orderstore export`: {order ID: value}, where a
    value that is not a JSON document of its own order comes back as the wrapped value
    (a string, or the decoded JSON)."""
    rc, out, err = run("export", "--dir", c.dir, timeout=120, env=env)
    if rc != 0:
        return None
    got = {}
    for line in out.splitlines():
        doc = json.loads(line)
        got[doc.get("order_id")] = doc.get("value")
    return got


def missing(c, acked, env=None, decode=False):
    """IDs of @acked ({id: value}) whose value the cluster does not return."""
    got = export_values(c, env)
    if got is None:
        return list(acked)[:1] + ["(export failed)"]
    return [o for o, v in acked.items() if got.get(o) != (json.loads(v) if decode else v)]


def wait_for(fn, seconds, step=0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def finish():
    if failures:
        print(f"{len(failures)} check(s) failed: {failures}")
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)
