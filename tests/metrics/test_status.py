#!/usr/bin/env python3
"""`orderstore status --json` on a local cluster (suite 'metrics').

local up (2 shards x 1 replica, metrics on) -> status --json: exit 0, every node and the
router healthy, the issue's stable keys, metrics URLs that answer a scrape -> local kill
of a replica -> status --json reports it unhealthy with a non-zero exit within the
heartbeat timeout (+ slack) -> local down. Ports: free data and metrics ranges (bind
only, never connect: a bare connect stalls an nng listener)."""
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from clitest import CliTest, cli_env  # noqa: E402

CLI = os.environ["OSTORE_CLI_BIN"]
ENV = cli_env()
HEARTBEAT_S = 1.0  # node default --heartbeat-timeout-ms
_t = CliTest(CLI, ENV)
run, check, expect, failures = _t.run, _t.check, _t.expect, _t.failures


def port_free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_base(n):
    for _ in range(500):
        base = random.randrange(20000, 59000 - n)
        if all(port_free(base + i) and port_free(base + 100 + i) for i in range(n)):
            return base
    raise RuntimeError("no free port range")


def nodes_of(st):
    for sh in st["shards"]:
        yield sh["primary"]
        yield from sh["replicas"]


def status(d):
    rc, out, err = run("status", "--json", "--dir", d, "--timeout-ms", 1000)
    try:
        return rc, json.loads(out)
    except ValueError:
        return rc, {"error": out + err}


def main():
    d = tempfile.mkdtemp(prefix="ostore-status-")
    try:
        base = free_base(5)
        rc, out, err = run("local", "up", "--dir", d, "--shards", 2, "--replicas", 1,
                           "--base-port", base, "--no-sync")
        check(rc == 0 and "metrics" in out, "local up with metrics", out + err)
        rc, st = status(d)
        check(rc == 0 and st.get("ok") is True, "status: exit 0, ok", repr(st)[:600])
        check(set(st) >= {"epoch", "shards", "routers"}, "top-level keys")
        for sh in st.get("shards", []):
            check(set(sh) >= {"id", "slots", "orders", "primary", "replicas"},
                  f"shard {sh.get('id')} keys", repr(sh))
        nodes = list(nodes_of(st)) if "shards" in st else []
        check(len(nodes) == 4, "4 nodes", repr(nodes))
        for n in nodes:
            check(set(n) >= {"node", "addr", "metrics", "healthy", "lag"} and n["healthy"],
                  f"node {n.get('node')} healthy with stable keys", repr(n))
            port = int(n["addr"].rsplit(":", 1)[1])
            check(n["metrics"] == f"http://127.0.0.1:{port + 100}/metrics",
                  f"node {n['node']} metrics URL", repr(n))
            body = urllib.request.urlopen(n["metrics"], timeout=5).read().decode()
            check("orderstore_build_info" in body and "orderstore_lsn" in body,
                  f"node {n['node']} serves /metrics")
        for r in st.get("routers", []):
            check(set(r) >= {"addr", "metrics", "healthy", "epoch"} and r["healthy"]
                  and r["epoch"] == st["epoch"], "router healthy with the map's epoch", repr(r))
            body = urllib.request.urlopen(r["metrics"], timeout=5).read().decode()
            check("orderstore_router_node_inflight" in body or "orderstore_map_epoch" in body,
                  "router serves /metrics")
        # a primary scrape shows its replica's ack
        p0 = st["shards"][0]["primary"]["metrics"]
        body = urllib.request.urlopen(p0, timeout=5).read().decode()
        check("orderstore_repl_replica_acked_lsn{replica=\"1\"}" in body
              and "orderstore_repl_connected_replicas 1" in body, "primary reports its replica",
              body[-1500:])

        # top: a hot key read over and over shows as its node's hottest ID
        rc, out, err = run("put", "hot-order", '{"order_id":"hot-order"}', "--dir", d)
        check(rc == 0, "put hot-order", out + err)
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                run("get", "hot-order", "--dir", d)

        readers = [threading.Thread(target=reader) for _ in range(2)]
        for t in readers:
            t.start()
        time.sleep(2.5)
        rc, out, err = run("top", "--dir", d, "--iterations", 1, "--json", "--keys", 2)
        stop.set()
        for t in readers:
            t.join()
        try:
            top = json.loads(out)
        except ValueError:
            top = {}
        hot = [n for n in top.get("nodes", []) if n.get("hot")]
        check(rc == 0 and len(top.get("nodes", [])) == 4 and len(hot) >= 1
              and hot[0]["hot"][0]["id"] == "hot-order" and hot[0]["ops_per_sec"] > 0
              and hot[0]["p99_us"] >= hot[0]["p50_us"],
              "top --json: the hot key leads its node, with ops/s and latency", out + err)
        rc, out, err = run("top", "--dir", d, "--iterations", 1)
        check(rc == 0 and "ops/s" in out and "hot-order" in out, "top: text table", out + err)
        rc, out, err = run("top", "--dir", d, "--keys", 99)
        check(rc == 2, "top --keys 99: usage error", out + err)

        rc, out, err = run("local", "kill", "--dir", d, 3)
        check(rc == 0, "local kill node 3", out + err)
        t0 = time.monotonic()
        rc, st = status(d)
        took = time.monotonic() - t0
        bad = [n for n in nodes_of(st) if n["node"] == 3] if "shards" in st else []
        check(rc != 0 and st.get("ok") is False and bad and bad[0]["healthy"] is False
              and bad[0]["lag"] is None, "status after kill: node 3 unhealthy, exit != 0",
              repr(st)[:800])
        check(took < HEARTBEAT_S + 2.5, f"reported within the heartbeat timeout + slack "
              f"({took:.2f} s)")
        others = [n for n in nodes_of(st) if n["node"] != 3] if "shards" in st else []
        check(all(n["healthy"] for n in others), "the other nodes stay healthy", repr(others))
        rc, out, err = run("status", "--dir", d, "--timeout-ms", 1000)
        check(rc == 1 and "UNHEALTHY" in out, "text status marks it", out + err)
    finally:
        run("local", "down", "--dir", d)
        shutil.rmtree(d, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed: {failures}")
        return 1
    print("all status checks passed")
    return 0


def _terminated(signum, frame):
    """meson's timeout sends SIGTERM: leave through the finally blocks (local down)."""
    raise SystemExit(f"terminated by signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(main())
