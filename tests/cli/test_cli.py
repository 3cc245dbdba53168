#!/usr/bin/env python3
"""End-to-end test of the `orderstore` CLI with real node and router processes.

A 3-shard `local up` on free loopback ports; put/get/del (stdin values, binary bytes,
non-UTF-8 IDs), not found, bad usage, unreachable cluster, import of a small CSV
(also with a malformed row), stats --json, export, local status, restart with the same
data, and `local down` leaving no process behind.
A 1-shard cluster: its banner names one node address, --log-retain-entries reaches the
node (and DIR/local.json), `stats` with the node down exits 3 (--json: "orders": null and
the error's name), and `local up` after a kill -9 of the node and the router starts just
those two. Also: bad --router URLs and unknown short options are usage errors that name
the argument, and `local up` refuses a non-empty directory that is no cluster's.
Rebalancing (rebalance_checks): usage errors of rebalance / add-shard / remove-shard /
local add-shard; on the 3-shard cluster `local add-shard`, `rebalance --dry-run` (1024
slots to the new shard, none between old ones), `rebalance` (1024 slots per shard, every
order still readable), `rebalance --status`, `remove-shard` (its node stopped).

Environment (meson test_env): OSTORE_CLI_BIN, OSTORE_NODE_BIN, OSTORE_ROUTER_BIN.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from free_ports import free_base  # noqa: E402 (shared with the shell scripts)
from clitest import cli_env  # noqa: E402

CLI = os.environ["OSTORE_CLI_BIN"]
ENV = cli_env()

failures = []


def run(*args, stdin=b"", env=None, timeout=120):
    """Run the CLI; args may be str or bytes. Returns (rc, stdout bytes, stderr str)."""
    argv = [CLI] + [a if isinstance(a, bytes) else str(a) for a in args]
    p = subprocess.run(argv, input=stdin, capture_output=True, env=env or ENV, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def check(cond, what, detail=""):
    if cond:
        print(f"ok   {what}")
    else:
        print(f"FAIL {what} {detail}")
        failures.append(what)


def expect(args, rc, what, stdin=b"", env=None, out=None, err_has=None):
    got_rc, got_out, got_err = run(*args, stdin=stdin, env=env)
    ok = got_rc == rc
    if out is not None:
        ok = ok and got_out == out
    if err_has is not None:
        ok = ok and err_has in got_err
    check(ok, what, f"(rc {got_rc}, want {rc}; stdout {got_out[:200]!r}; stderr {got_err[-600:]!r})")
    return got_rc, got_out, got_err




def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return False


def pids_of(d):
    out = {}
    for name in os.listdir(d):
        if name.endswith(".pid"):
            with open(os.path.join(d, name)) as f:
                out[name] = int(f.read().strip())
    return out


CSV_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
CSV_ROWS = [
    "900001,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
    "900001,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    "900001,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    '900002,22633,"HAND WARMER, UNION JACK",6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom',
    "C900003,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom",
    "A900004,B,Adjust bad debt,1,2011-08-12 14:50:00,-11062.06,,United Kingdom",
    "900005,22728,ALARM CLOCK BAKELIKE PINK,24,2010-12-01 08:45:00,3.75,12583.0,France",
]


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")


def wait_gone(pid, limit=5.0):
    end = time.monotonic() + limit
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.05)


def one_shard_checks(tmp):
    """1 shard: banner, --log-retain-entries, stats with the node down, local up after
    kill -9 of some processes."""
    d = os.path.join(tmp, "one")
    try:
        base = free_base(2)
        rc, out, err = expect(["local", "up", "--dir", d, "--shards", "1", "--base-port", base,
                               "--no-sync", "--log-retain-entries", "300"], 0,
                              "local up 1 shard with --log-retain-entries")
        if rc != 0:
            return
        node = f"tcp://127.0.0.1:{base + 1}"
        check(out.decode().splitlines()[0].rstrip().endswith(f"node {node}") and b".." not in out,
              "1-shard banner names a single node address", repr(out))
        with open(os.path.join(d, "local.json")) as f:
            conf = json.load(f)
        check(conf.get("log_retain_entries") == 300 and conf.get("no_sync") is True,
              "local.json keeps --log-retain-entries", repr(conf))
        pids = pids_of(d)
        args = cmdline(pids["node-0.pid"])
        check(b"--log-retain-entries" in args and
              args[args.index(b"--log-retain-entries") + 1] == b"300",
              "the node runs with --log-retain-entries 300", repr(args))
        expect(["put", "k1", "v1", "--dir", d], 0, "1 shard: put")

        # kill -9 of the router and the node: `local up` starts just those two
        os.kill(pids["router.pid"], 9)
        os.kill(pids["node-0.pid"], 9)
        wait_gone(pids["router.pid"])
        wait_gone(pids["node-0.pid"])
        rc, out, err = expect(["local", "up", "--dir", d], 0,
                              "local up after kill -9 of node and router starts them")
        check(out.startswith(b"restarted 1-shard cluster"), "all were down: a restart", repr(out))
        args = cmdline(pids_of(d)["node-0.pid"])
        check(b"300" in args, "the restarted node keeps --log-retain-entries", repr(args))
        expect(["get", "k1", "--dir", d], 0, "data survives the kill -9 and local up", out=b"v1")

        # only the router dies: the node keeps running, only the router is started
        pids = pids_of(d)
        os.kill(pids["router.pid"], 9)
        wait_gone(pids["router.pid"])
        expect(["local", "up", "--dir", d, "--no-sync"], 2,
               "local up with node options while a node runs -> 2", err_has="cannot change now")
        rc, out, err = expect(["local", "up", "--dir", d], 0, "local up after the router died")
        check(b"started router (1 of 2" in out, "only the router was started", repr(out))
        now = pids_of(d)
        check(now["node-0.pid"] == pids["node-0.pid"] and alive(now["node-0.pid"]),
              "the running node was left alone", f"{pids} -> {now}")
        expect(["local", "up", "--dir", d], 1, "local up with everything running -> 1",
               err_has="already running")

        # stats with the node down: exit 3 (unreachable), orders null and the error's name
        expect(["local", "kill", "--dir", d, "0"], 0, "kill the only node")
        rc, out, err = expect(["stats", "--json", "--dir", d, "--timeout-ms", "1000"], 3,
                              "stats --json with a node down -> exit 3")
        try:
            sh = json.loads(out)["shards"][0]
        except (ValueError, KeyError, IndexError):
            sh = {}
        check(sh.get("orders", 0) is None and sh.get("status") == "OSTORE_EUNAVAIL"
              and sh.get("slots") == 4096, "dead shard: orders null, status its error", repr(out))
        rc, out, err = expect(["stats", "--dir", d, "--timeout-ms", "1000"], 3,
                              "stats table with a node down -> exit 3", err_has="did not answer")
        check(b"unavailable" in out, "the table names the error", repr(out))
    finally:
        run("local", "down", "--dir", d)


def rebalance_usage_checks():
    """Command-line errors of the capacity commands: exit 2, naming the problem."""
    cases = [
        (["rebalance", "--max-concurrent-slots", "0", "--dir", "/tmp/x"], "--max-concurrent-slots"),
        (["rebalance", "--max-concurrent-slots", "4097", "--dir", "/tmp/x"], "--max-concurrent-slots"),
        (["rebalance", "--rate", "fast", "--dir", "/tmp/x"], "--rate"),
        (["rebalance", "--rate", "-1", "--dir", "/tmp/x"], "--rate"),
        (["rebalance", "--weights", "0=x", "--dir", "/tmp/x"], "--weights"),
        (["rebalance", "--weights", "0=70000", "--dir", "/tmp/x"], "--weights"),
        (["rebalance", "--weights", "0=1,0=2", "--dir", "/tmp/x"], "twice"),
        (["rebalance", "--weights", "x", "--dir", "/tmp/x"], "--weights"),
        (["rebalance", "--dry-run", "--status", "--dir", "/tmp/x"], "exclude"),
        (["rebalance", "extra", "--dir", "/tmp/x"], "unexpected argument"),
        (["rebalance"], "no cluster given"),
        (["add-shard", "--dir", "/tmp/x"], "--primary"),
        (["add-shard", "--primary", "5", "--dir", "/tmp/x"], "NODE_ID=URL"),
        (["add-shard", "--primary", "5=foo", "--dir", "/tmp/x"], "'foo'"),
        (["add-shard", "--primary", "5000=tcp://127.0.0.1:1", "--dir", "/tmp/x"], "5000"),
        (["add-shard", "--primary", "5=tcp://127.0.0.1:1", "--replica", "5=tcp://127.0.0.1:2",
          "--dir", "/tmp/x"], "node id 5"),
        (["remove-shard", "--dir", "/tmp/x"], "SHARD is required"),
        (["remove-shard", "one", "--dir", "/tmp/x"], "SHARD"),
        (["remove-shard", "1", "2", "--dir", "/tmp/x"], "unexpected argument"),
        (["local", "add-shard"], "--dir DIR is required"),
        (["local", "add-shard", "--dir", "/tmp/x", "--replicas", "9"], "--replicas"),
    ]
    for args, msg in cases:
        expect(args, 2, f"{' '.join(args)} -> exit 2", err_has=msg)
    rc, out, _ = expect(["--help"], 0, "--help lists the capacity commands")
    check(b"rebalance" in out and b"add-shard" in out and b"remove-shard" in out,
          "--help names rebalance, add-shard, remove-shard", repr(out[-600:]))
    rc, out, _ = expect(["rebalance", "--help"], 0, "rebalance --help")
    check(b"Exit status" in out and b"--dry-run" in out, "rebalance --help documents exit status")


def rebalance_checks(d):
    """3 shards + local add-shard: dry-run, rebalance, status, remove-shard."""
    orders = {f"rb-{i}": f'{{"i":{i}}}' for i in range(150)}
    for k, v in orders.items():
        run("put", k, v, "--dir", d)
    rc, out, err = expect(["local", "add-shard", "--dir", d], 0, "local add-shard")
    check(b"added shard 3" in out, "the new shard is shard 3", repr(out))
    with open(os.path.join(d, "map.json")) as f:
        m = json.load(f)
    check(len(m["shards"]) == 4 and m["shards"][3].get("weight") == 1 and
          len(m["nodes"]) == 4, "map.json has the new shard and node", repr(m["shards"]))
    check("node-3.pid" in pids_of(d), "the new node has a pid file", repr(pids_of(d)))
    rc, out, _ = expect(["local", "status", "--dir", d], 0, "local status knows the new node")
    check(b"node-3" in out and b"primary of shard 3" in out, "node-3 listed", repr(out))
    rc, out, _ = expect(["rebalance", "--dry-run", "--dir", d], 0, "rebalance --dry-run")
    text = out.decode()
    moves = [l.split() for l in text.splitlines() if l.strip()[:1].isdigit() and len(l.split()) == 7]
    check(moves and all(mv[2] == "3" for mv in moves), "every move goes to the new shard",
          text[:800])
    check(sum(int(mv[4]) for mv in moves) == 1024 and "plan of 1024 slots" in text,
          "1024 slots move, none between old shards", text[:800])
    check("est. MB" in text and "resulting balance" in text, "dry-run shows est. MB and balance")
    expect(["rebalance", "--weights", "9=1", "--dir", d], 2, "--weights of an unknown shard -> 2",
           err_has="no shard 9")
    rc, out, err = expect(["rebalance", "--dir", d], 0, "rebalance onto the new shard")
    check(b"moved: 1024 slots" in out, "rebalance totals", repr(out[-400:]))
    rc, out, _ = expect(["stats", "--json", "--dir", d], 0, "stats after rebalance")
    st = json.loads(out)
    check([x["slots"] for x in st["shards"]] == [1024] * 4, "1024 slots per shard", repr(out))
    bad = [k for k, v in orders.items() if run("get", k, "--dir", d)[1] != v.encode()]
    check(not bad, "every order readable after the rebalance", repr(bad[:5]))
    rc, out, _ = expect(["rebalance", "--status", "--dir", d], 0, "rebalance --status")
    check(b"balanced" in out and out.count(b" none") == 4, "status: balanced, nothing frozen",
          repr(out))
    rc, out, _ = expect(["rebalance", "--dir", d], 0, "rebalance of a balanced map")
    check(b"nothing to move" in out, "nothing to move", repr(out))
    node3 = pids_of(d)["node-3.pid"]
    rc, out, err = expect(["remove-shard", "3", "--dir", d], 0, "remove-shard 3")
    check(b"removed shard 3" in out, "remove-shard reports", repr(out[-400:]))
    wait_gone(node3)
    check(not alive(node3) and "node-3.pid" not in pids_of(d), "its node is stopped")
    rc, out, _ = expect(["stats", "--json", "--dir", d], 0, "stats after remove-shard")
    st = json.loads(out)
    check(len(st["shards"]) == 3 and sum(x["slots"] for x in st["shards"]) == 4096,
          "3 shards own every slot", repr(out))
    bad = [k for k, v in orders.items() if run("get", k, "--dir", d)[1] != v.encode()]
    check(not bad, "every order readable after remove-shard", repr(bad[:5]))
    with open(os.path.join(d, "map.json")) as f:
        epoch0 = json.load(f)["epoch"]
    expect(["add-shard", "--dir", d, "--primary", "50=tcp://127.0.0.1:1", "--replica",
            "51=tcp://127.0.0.1:1"], 2, "add-shard: two new nodes on one address -> 2",
           err_has="own id and address")
    expect(["add-shard", "--dir", d, "--primary", "50=tcp://127.0.0.1:1", "--timeout-ms", 500],
           1, "add-shard: a new node that does not answer -> 1, nothing changed",
           err_has="does not answer")
    with open(os.path.join(d, "map.json")) as f:
        check(json.load(f)["epoch"] == epoch0, "add-shard refused: the map did not change")
    expect(["remove-shard", "3", "--dir", d], 2, "remove-shard again: not in the map -> 2",
           out=None, err_has="not in the cluster map")
    for k in orders:
        run("del", k, "--dir", d)


def main():
    tmp = tempfile.mkdtemp(prefix="ostore-cli-")
    d = os.path.join(tmp, "cluster")
    d2 = os.path.join(tmp, "busy")
    blocker = None
    try:
        # ---- usage and help, no cluster needed
        expect([], 2, "no command -> exit 2")
        expect(["frobnicate"], 2, "unknown command -> exit 2", err_has="unknown command")
        expect(["put", "only-id"], 2, "put with one argument -> exit 2")
        expect(["get", "x", "--bogus"], 2, "unknown option -> exit 2", err_has="--bogus")
        expect(["get", "x"], 2, "no cluster named -> exit 2", err_has="no cluster given")
        expect(["local", "up", "--shards", "3"], 2, "local up without --dir -> exit 2")
        expect(["local", "up", "--dir", d, "--shards", "zero"], 2, "bad --shards -> exit 2")
        expect(["get", "x" * 257, "--router", "tcp://127.0.0.1:1"], 2, "ID over 256 bytes -> exit 2",
               err_has="invalid order ID")
        expect(["get", "--dir", "/tmp/x", "-dash"], 2, "unknown short option named as given",
               err_has="unknown option '-dash'")
        expect(["get", "x", "--dir", "/tmp/x", "-q"], 2, "unknown one-letter option named",
               err_has="unknown option '-q'")
        for bad in ("foo", "tcp://127.0.0.1", "tcp//127.0.0.1:7100", "http://127.0.0.1:80"):
            expect(["get", "x", "--router", bad], 2, f"--router {bad!r} -> usage error naming it",
                   err_has=f"'{bad}'")
        expect(["stats"], 2, "$ORDERSTORE_ROUTER with a bad URL -> exit 2",
               env=dict(ENV, ORDERSTORE_ROUTER="tcp://127.0.0.1:1,nonsense"), err_has="'nonsense'")
        alien = os.path.join(tmp, "alien")
        os.makedirs(os.path.join(alien, ".git"))
        with open(os.path.join(alien, "README"), "w") as f:
            f.write("not a cluster\n")
        expect(["local", "up", "--dir", alien, "--shards", "1", "--base-port", free_base(2)], 2,
               "local up refuses a non-empty non-cluster DIR", err_has="not an orderstore cluster")
        check(sorted(os.listdir(alien)) == [".git", "README"], "nothing written into it",
              repr(os.listdir(alien)))
        notdir = os.path.join(tmp, "afile")
        open(notdir, "w").close()
        expect(["local", "up", "--dir", notdir, "--shards", "1"], 2, "local up on a file -> 2",
               err_has="not a directory")
        rc, out, _ = expect(["--help"], 0, "--help -> exit 0")
        check(b"Exit status" in out and b"3  cluster unreachable" in out, "--help documents exit codes")
        for sub in (["put"], ["get"], ["del"], ["import"], ["export"], ["stats"], ["local", "up"],
                    ["local", "down"], ["local", "status"], ["local", "kill"], ["local", "start"],
                    ["status"], ["failover"], ["verify"], ["rebalance"], ["add-shard"],
                    ["remove-shard"], ["local", "add-shard"]):
            expect(sub + ["--help"], 0, f"{' '.join(sub)} --help -> exit 0")
        rebalance_usage_checks()
        rc, out, _ = expect(["--version"], 0, "--version -> exit 0")
        check(out.startswith(b"orderstore "), "--version prints the version", repr(out))

        # ---- unreachable cluster -> exit 3
        dead = free_base(1)
        expect(["get", "x", "--router", f"tcp://127.0.0.1:{dead}", "--timeout-ms", "300"], 3,
               "router not listening -> exit 3")

        # ---- local up
        base = free_base(4)
        rc, out, err = expect(["local", "up", "--dir", d, "--shards", "3", "--base-port", base,
                               "--no-sync"], 0, "local up 3 shards")
        if rc != 0:
            return
        router = f"tcp://127.0.0.1:{base}"
        with open(os.path.join(d, "routers")) as f:
            check(f.read() == router + "\n", "DIR/routers holds the router address")
        with open(os.path.join(d, "map.json")) as f:
            m = json.load(f)
        check(len(m["shards"]) == 3 and len(m["nodes"]) == 3, "map.json has 3 shards and nodes")
        pids = pids_of(d)
        check(sorted(pids) == ["node-0.pid", "node-1.pid", "node-2.pid", "router.pid"],
              "pid files for 3 nodes and the router", str(pids))
        check(all(alive(p) for p in pids.values()), "all started processes alive")
        expect(["local", "up", "--dir", d, "--shards", "3", "--base-port", base], 1,
               "second local up refused", err_has="already running")
        rc, out, _ = expect(["local", "status", "--dir", d], 0, "local status all up")
        check(out.count(b" up\n") == 4, "status lists 4 processes up", repr(out))
        rc, out, _ = expect(["status", "--dir", d], 0, "status: every node answers")
        check(out.count(b" healthy   lsn") == 3 and b"epoch 1" in out, "status lists 3 primaries", repr(out))
        expect(["failover", "--dir", d, "--shard", "0"], 1, "failover without a replica -> 1",
               err_has="no replica")
        expect(["local", "start", "--dir", d, "0"], 1, "local start of a running node -> 1",
               err_has="already running")

        # ---- port taken
        blocker = socket.socket()
        bport = free_base(4)
        blocker.bind(("127.0.0.1", bport + 2))
        blocker.listen(1)
        expect(["local", "up", "--dir", d2, "--shards", "3", "--base-port", bport], 1,
               "local up refuses a taken port", err_has=f"port {bport + 2}")

        # ---- a node that dies at once, and one that never answers: local up fails, cleans up
        d3 = os.path.join(tmp, "broken")
        env = dict(ENV, ORDERSTORE_NODE_BIN="/bin/false")
        expect(["local", "up", "--dir", d3, "--shards", "2", "--base-port", free_base(3)], 1,
               "local up with a node that exits", env=env, err_has="before answering")
        check(not pids_of(d3), "failed local up leaves no pid files")
        hang = os.path.join(tmp, "hang.sh")
        with open(hang, "w") as f:
            f.write("#!/bin/sh\necho 'hang: never answers'\nexec sleep 60\n")
        os.chmod(hang, 0o755)
        env = dict(ENV, ORDERSTORE_NODE_BIN=hang)
        rc, _, err = expect(["local", "up", "--dir", d3, "--shards", "2", "--base-port",
                             free_base(3), "--wait-ms", "1500"], 1,
                            "local up times out on a silent node", env=env,
                            err_has="did not answer within 1500 ms")
        check("hang: never answers" in err, "timeout shows the log tail", err[-400:])
        check(not pids_of(d3), "timed-out local up leaves no pid files")
        shutil.rmtree(d3, ignore_errors=True)

        # ---- put / get / del
        rc, out, _ = expect(["put", "order-1", '{"a":1}', "--dir", d], 0, "put")
        check(out.strip().isdigit(), "put prints the version", repr(out))
        expect(["get", "order-1", "--dir", d], 0, "get returns the value", out=b'{"a":1}')
        expect(["get", "order-1", "--router", router], 0, "get with --router", out=b'{"a":1}')
        env = dict(ENV, ORDERSTORE_ROUTER=f"tcp://127.0.0.1:{dead}, {router}")
        expect(["get", "order-1"], 0, "get with ORDERSTORE_ROUTER (two routers)", env=env,
               out=b'{"a":1}')
        binary = bytes(range(256)) * 40 + b"\n\x00end"
        expect(["put", "bin", "-", "--dir", d], 0, "put value from stdin", stdin=binary)
        expect(["get", "bin", "--dir", d], 0, "binary value back byte for byte", out=binary)
        odd_id = b"\xff\xfe id \xc3(\x01"
        expect(["put", odd_id, "-", "--dir", d], 0, "put non-UTF-8 ID", stdin=b'{"odd":1}')
        expect(["get", odd_id, "--dir", d], 0, "get non-UTF-8 ID", out=b'{"odd":1}')
        expect(["put", "empty", "-", "--dir", d], 0, "put empty value", stdin=b"")
        expect(["get", "empty", "--dir", d], 0, "get empty value", out=b"")
        expect(["del", "empty", "--dir", d], 0, "del empty")
        expect(["get", "missing", "--dir", d], 1, "get missing -> exit 1",
               err_has="orderstore: order 'missing' not found")
        expect(["del", "order-1", "--dir", d], 0, "del")
        expect(["get", "order-1", "--dir", d], 1, "get after del -> exit 1", err_has="not found")
        expect(["del", "order-1", "--dir", d], 1, "del missing -> exit 1", err_has="not found")
        expect(["put", "--dir", d, "--", "dash", "-x-"], 0, "put value after --")
        expect(["get", "dash", "--dir", d], 0, "value starting with '-'", out=b"-x-")

        # ---- import
        csv = os.path.join(tmp, "small.csv")
        with open(csv, "w") as f:
            f.write(CSV_HEADER + "\n".join(CSV_ROWS) + "\n")
        rc, out, err = expect(["import", csv, "--dir", d, "--batch", "2", "--concurrency", "2"], 0,
                              "import small CSV")
        check(b"imported 5 of 5 orders from 7 rows" in out and b"orders/s" in out,
              "import summary", repr(out))
        rc, out, _ = expect(["get", "900001", "--dir", d], 0, "get an imported order")
        doc = json.loads(out)
        check(doc.get("order_id") == "900001" and len(doc.get("lines", [])) == 3,
              "imported order has its 3 lines (duplicates kept)", repr(out[:300]))
        bad = os.path.join(tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write(CSV_HEADER + "900010,X,ok,1,2010-12-01 08:26:00,1.0,1.0,UK\n"
                    "900011,X,bad qty,many,2010-12-01 08:26:00,1.0,1.0,UK\n")
        expect(["import", bad, "--dir", d], 1, "malformed row refused", err_has="line 3")
        expect(["get", "900010", "--dir", d], 1, "nothing imported from a refused file")
        expect(["import", bad, "--dir", d, "--skip-bad"], 0, "--skip-bad imports the rest")
        expect(["import", os.path.join(tmp, "nope.csv"), "--dir", d], 1, "missing file -> exit 1",
               err_has="nope.csv")

        # ---- stats
        # stored now: bin, odd_id, dash, 5 invoices, 900010
        rc, out, _ = expect(["stats", "--json", "--dir", d], 0, "stats --json")
        s = json.loads(out)
        check(s["total_orders"] == 9, "stats total_orders", repr(s))
        check(len(s["shards"]) == 3 and [x["id"] for x in s["shards"]] == [0, 1, 2], "3 shards")
        check(sum(x["slots"] for x in s["shards"]) == 4096, "slots sum to 4096")
        check(sum(x["orders"] for x in s["shards"]) == 9, "shard orders sum to total")
        check(isinstance(s["epoch"], int) and s["epoch"] >= 1, "epoch present")
        rc, out, _ = expect(["stats", "--dir", d], 0, "stats table")
        check(b"total" in out and b"4096" in out, "stats table has the total line", repr(out))

        # ---- export: values that are not import's documents are wrapped, one line each
        rc, out, _ = expect(["export", "--dir", d], 0, "export of mixed values")
        docs = [json.loads(l) for l in out.split(b"\n")[:-1]]
        check(len(docs) == 9, "export writes one line per order", repr(out[:300]))
        check(all("order_id" in x or "order_id_hex" in x for x in docs), "every line names its order")
        bin_doc = [x for x in docs if x.get("order_id") == "bin"]
        check(len(bin_doc) == 1 and ("value" in bin_doc[0] or "value_hex" in bin_doc[0])
              and "version" in bin_doc[0], "a non-JSON value is wrapped", repr(bin_doc))
        for k in (["bin"], [odd_id], ["dash"]):
            expect(["del"] + k + ["--dir", d], 0, f"del {k[0]!r}")
        rc, out, err = expect(["export", "--dir", d], 0, "export")
        lines = out.split(b"\n")
        check(lines[-1] == b"" and len(lines) - 1 == 6, "export writes 6 lines", repr(out[:300]))
        ids = sorted(json.loads(l)["order_id"] for l in lines[:-1])
        check(ids == ["900001", "900002", "900005", "900010", "A900004", "C900003"],
              "export has every order", repr(ids))

        rebalance_checks(d)
        one_shard_checks(tmp)

        # ---- down, then restart on the same data
        expect(["local", "down", "--dir", d], 0, "local down")
        time.sleep(0.2)
        check(not any(alive(p) for p in pids.values()), "no process left after down", str(pids))
        check(not pids_of(d), "pid files removed")
        expect(["local", "status", "--dir", d], 1, "local status when down -> exit 1")
        expect(["local", "down", "--dir", d], 0, "local down when already down -> exit 0")
        expect(["local", "up", "--dir", d, "--no-sync"], 0, "local up restarts a stopped cluster")
        pids = pids_of(d)
        expect(["get", "900005", "--dir", d], 0, "data survives a restart")
        expect(["local", "down", "--dir", d], 0, "local down after restart")
        time.sleep(0.2)
        check(not any(alive(p) for p in pids.values()), "no process left after second down")
    finally:
        if blocker is not None:
            blocker.close()
        for x in (d, d2):
            if os.path.isdir(x):
                run("local", "down", "--dir", x)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failure(s)")


def _terminated(signum, frame):
    """meson's timeout sends SIGTERM: leave through the finally blocks (local down)."""
    raise SystemExit(f"terminated by signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    try:
        main()
    except Exception as e:  # report, do not hang or leave processes
        failures.append(repr(e))
        print(f"FAIL exception {e!r}")
    sys.exit(1 if failures else 0)
