#!/usr/bin/env python3
"""TLS and credentials end to end, with real processes and the `orderstore` CLI
(which reaches routers through liborderstore and nodes directly).

One cluster made by `local up --tls --auth` (1 shard x (primary + 1 replica), a router;
every link tls+tcp://, certificates from tools/make-test-certs, tokens in DIR):
  A. put/get through the router with the CLI's defaults from --dir (DIR/tls/client.*,
     DIR/admin.token); the replica applies the writes over its TLS link (status: lag 0,
     verify clean).
  B. plain tcp:// clients to the TLS router and node ports get no answer (exit 3), and
     the listeners still serve good clients afterwards (nng bug #1518: a failed handshake
     can stop a listener); the replica keeps replicating after a plain client hit its
     primary.
  B2. TLS clients that give up in the middle of their handshake (60, timeout 1 ms, 4 at
     once) stop nng 1.5.2's TLS listener for new connections (#1518 as it shows here);
     the listener guard (common/netguard.c) notices and restarts it: within 60 s new
     clients are served again and the process logged the restart.
  C. a client whose certificate comes from another CA is refused; a client that trusts
     another CA refuses the cluster; bad TLS usage is a usage error (exit 2).
  D. no credential and a wrong credential are refused (OSTORE_EAUTH, exit 1); bad token
     files are usage errors (exit 2).
  E. the client token runs put/get but not `failover`, `rebalance` (exit 1) or `verify`
     (exit 3: nodes not compared), each saying it "needs the admin credential"; the map
     epoch is unchanged; the admin token runs `failover`.

Environment (meson test_env): OSTORE_CLI_BIN, OSTORE_NODE_BIN, OSTORE_ROUTER_BIN,
OSTORE_SOURCE_ROOT (for tools/make-test-certs).
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from free_ports import free_base  # noqa: E402 (shared with the shell scripts)
from clitest import CliTest, cli_env  # noqa: E402

CLI = os.environ["OSTORE_CLI_BIN"]
CERTS = os.path.join(os.environ.get("OSTORE_SOURCE_ROOT", "."), "tools", "make-test-certs")
ENV = cli_env(drop=("ORDERSTORE_ROUTER", "ORDERSTORE_TOKEN_FILE"))
ENV["ORDERSTORE_MAKE_CERTS"] = CERTS

_t = CliTest(CLI, ENV)
run, check, expect, failures = _t.run, _t.check, _t.expect, _t.failures


def map_epoch(d):
    rc, out, _ = run("status", "--dir", d, "--json")
    try:
        return json.loads(out).get("epoch")
    except ValueError:
        return None


def status_nodes(d):
    """(exit status, [primary entry, replica entries...]) of `status --json`."""
    rc, out, _ = run("status", "--dir", d, "--json")
    try:
        st = json.loads(out)
    except ValueError:
        return rc, []
    return rc, [n for sh in st.get("shards", [])
                for n in ([sh["primary"]] if sh.get("primary") else []) + sh.get("replicas", [])]


def cmdline(d, name):
    with open(os.path.join(d, name + ".pid")) as f:
        with open(f"/proc/{int(f.read())}/cmdline", "rb") as g:
            return g.read().split(b"\0")


def part_a(d, tls_dir):
    with open(os.path.join(d, "map.json")) as f:
        m = json.load(f)
    check(all(n["addr"].startswith("tls+tcp://127.0.0.1:") for n in m["nodes"]),
          "A: map addresses are tls+tcp://", repr(m["nodes"]))
    with open(os.path.join(d, "routers")) as f:
        check(f.read().startswith("tls+tcp://"), "A: DIR/routers is tls+tcp://")
    for tok in ("client.token", "admin.token"):
        mode = stat.S_IMODE(os.stat(os.path.join(d, tok)).st_mode)
        check(mode == 0o600, f"A: {tok} has mode 0600", oct(mode))
    for name in ("node-0", "node-1", "router"):
        args = cmdline(d, name)
        check(b"--tls-cert" in args and b"--admin-token-file" in args
              and not any(b"token" in a and b"/" not in a and len(a) > 40 for a in args),
              f"A: {name} runs with TLS files and token files (no token on its command line)",
              repr(args))
    puts = [run("put", "--dir", d, f"order-{i}", f'{{"n":{i}}}')[0] for i in range(20)]
    check(puts == [0] * 20, "A: 20 puts over TLS with the admin token from DIR", repr(puts))
    expect(["get", "--dir", d, "order-7"], 0, "A: get over TLS with the admin token",
           has='{"n":7}')
    rc, nodes = status_nodes(d)
    check(rc == 0 and len(nodes) == 2 and all(n.get("lag") == 0 for n in nodes)
          and nodes[0].get("lsn", 0) >= 20 and nodes[1].get("lsn") == nodes[0].get("lsn"),
          "A: the replica applied every write over TLS (lag 0)", repr(nodes))
    expect(["verify", "--dir", d], 0, "A: verify: primary and replica agree over TLS")


def part_b(d, base):
    router_plain = f"tcp://127.0.0.1:{base}"
    node_plain = f"tcp://127.0.0.1:{base + 1}"
    for i in range(3):
        expect(["get", "--router", router_plain, "--timeout-ms", 500, "order-1"], 3,
               f"B: plain tcp:// client to the TLS router port gets no answer (try {i + 1})")
        expect(["get", "--router", node_plain, "--timeout-ms", 500, "order-1"], 3,
               f"B: plain tcp:// client to the TLS node port gets no answer (try {i + 1})")
    expect(["get", "--dir", d, "order-1"], 0,
           "B: the router's TLS listener still serves a good client (#1518)", has='{"n":1}')
    expect(["put", "--dir", d, "after-plain", "x"], 0, "B: put after the plain clients")
    rc, nodes = status_nodes(d)
    check(rc == 0 and len(nodes) == 2 and all(n.get("lag") == 0 for n in nodes)
          and nodes[0].get("lsn", 0) >= 21,
          "B: the primary's TLS listener still serves its replica (#1518)", repr(nodes))


def part_b2(d):
    procs = []
    for _ in range(4):
        procs.append(subprocess.Popen(
            # `timeout`: closing a socket whose handshake is stuck can hang the abandoning
            # client itself in nng 1.5.2; bound each one
            ["sh", "-c", f'for i in $(seq 1 15); do timeout -s KILL 3 "{CLI}" local status '
                         f'--dir "{d}" --timeout-ms 1 >/dev/null 2>&1; done'], env=ENV))
    for p in procs:
        p.wait(timeout=100)
    deadline = time.monotonic() + 60
    served = False
    while time.monotonic() < deadline and not served:
        rc, out, _ = run("local", "status", "--dir", d, "--timeout-ms", 3000)
        served = rc == 0 and "not answering" not in out
        if not served:
            time.sleep(1)
    logs = ""
    for name in ("node-0", "node-1", "router"):
        with open(os.path.join(d, name + ".log")) as f:
            logs += f.read()
    restarts = [ln for ln in logs.splitlines() if "nng bug #1518" in ln]
    check(served, "B2: after 60 abandoned handshakes every process serves new TLS clients "
                  "within 60 s", out + "\n".join(restarts))
    expect(["get", "--dir", d, "order-4"], 0, "B2: a good client is served", has='{"n":4}')
    print(f"     B2: listener restarts logged: {len(restarts)}")


def part_c(d, tmp):
    other = os.path.join(tmp, "other-ca")
    p = subprocess.run([CERTS, other], capture_output=True, text=True)
    if not check(p.returncode == 0, "C: make-test-certs for another CA", p.stderr):
        return
    tls = os.path.join(d, "tls")
    expect(["get", "--dir", d, "--timeout-ms", 1000, "--tls-cert", f"{other}/client.pem",
            "--tls-key", f"{other}/client.key", "--tls-ca", f"{tls}/ca.pem", "order-2"], 3,
           "C: a client certificate from another CA is refused")
    expect(["get", "--dir", d, "--timeout-ms", 1000, "--tls-cert", f"{tls}/client.pem",
            "--tls-key", f"{tls}/client.key", "--tls-ca", f"{other}/ca.pem", "order-2"], 3,
           "C: a client trusting another CA refuses the cluster's certificate")
    expect(["get", "--dir", d, "--tls-cert", f"{tls}/client.pem", "order-2"], 2,
           "C: --tls-cert without --tls-key/--tls-ca -> usage error", has="--tls-key")
    expect(["get", "--dir", d, "--tls-cert", f"{tls}/client.pem", "--tls-key",
            f"{tls}/missing.key", "--tls-ca", f"{tls}/ca.pem", "order-2"], 2,
           "C: unreadable --tls-key -> usage error", has="missing.key")
    with open(os.path.join(d, "routers")) as f:
        url = f.read().strip()
    expect(["get", "--router", url, "order-2"], 2,
           "C: a tls+tcp:// router without TLS files -> usage error", has="TLS")
    expect(["get", "--dir", d, "order-2"], 0, "C: good clients still served", has='{"n":2}')


def part_d(d, tmp):
    tls = os.path.join(d, "tls")
    with open(os.path.join(d, "routers")) as f:
        url = f.read().strip()
    tls_args = ["--router", url, "--tls-cert", f"{tls}/client.pem", "--tls-key",
                f"{tls}/client.key", "--tls-ca", f"{tls}/ca.pem"]
    expect(["get"] + tls_args + ["order-3"], 1, "D: no credential -> refused",
           has="authentication failed")
    wrong = os.path.join(tmp, "wrong.token")
    with open(wrong, "w") as f:
        f.write("not-the-token\n")
    expect(["put"] + tls_args + ["--token-file", wrong, "order-3", "y"], 1,
           "D: wrong credential -> refused", has="authentication failed")
    expect(["get", "--dir", d, "order-3"], 0, "D: the refused put wrote nothing",
           has='{"n":3}')
    empty = os.path.join(tmp, "empty.token")
    open(empty, "w").close()
    expect(["get", "--dir", d, "--token-file", empty, "order-3"], 2,
           "D: empty token file -> usage error", has="empty")
    long_tok = os.path.join(tmp, "long.token")
    with open(long_tok, "w") as f:
        f.write("x" * 129)
    expect(["get", "--dir", d, "--token-file", long_tok, "order-3"], 2,
           "D: token over 128 bytes -> usage error", has="longer than 128")
    expect(["get", "--dir", d, "--token-file", os.path.join(tmp, "absent"), "order-3"], 2,
           "D: missing token file -> usage error", has="absent")


def part_e(d):
    client_tok = os.path.join(d, "client.token")
    expect(["put", "--dir", d, "--token-file", client_tok, "by-client", "c"], 0,
           "E: client token: put")
    expect(["get", "--dir", d, "--token-file", client_tok, "by-client"], 0,
           "E: client token: get", has="c")
    epoch = map_epoch(d)
    check(isinstance(epoch, int) and epoch >= 1, "E: map epoch read", repr(epoch))
    expect(["failover", "--dir", d, "--token-file", client_tok, "--shard", 0, "--force"], 1,
           "E: client token: failover refused", has="admin credential")
    expect(["rebalance", "--dir", d, "--token-file", client_tok], 1,
           "E: client token: rebalance refused", has="admin credential")
    # verify reports nodes it could not compare with exit status 3, whatever the cause
    expect(["verify", "--dir", d, "--token-file", client_tok], 3,
           "E: client token: verify (CHECKSUM, straight to the nodes) refused by the nodes",
           has="needs the admin credential")
    check(map_epoch(d) == epoch, "E: map epoch unchanged after the refused commands")
    expect(["failover", "--dir", d, "--shard", 0, "--force"], 0,
           "E: admin token: failover succeeds")
    check(map_epoch(d) == epoch + 1, "E: map epoch bumped by the admin failover",
          repr(map_epoch(d)))
    expect(["get", "--dir", d, "--token-file", client_tok, "order-5"], 0,
           "E: client token reads after the failover", has='{"n":5}')


def main():
    if shutil.which("openssl") is None:
        print("FAIL openssl not installed (tools/install-deps)")
        return 1
    tmp = tempfile.mkdtemp(prefix="ostore-security-")
    d = os.path.join(tmp, "c")
    try:
        base = free_base(3)
        rc, _, _ = expect(["local", "up", "--dir", d, "--shards", 1, "--replicas", 1,
                           "--base-port", base, "--no-sync", "--tls", "--auth"], 0,
                          "local up --tls --auth (1 shard, primary + replica, router)")
        if rc != 0:
            return 1
        part_a(d, os.path.join(d, "tls"))
        part_b(d, base)
        part_b2(d)
        part_c(d, tmp)
        part_d(d, tmp)
        part_e(d)
        expect(["local", "down", "--dir", d], 0, "local down")
    finally:
        run("local", "down", "--dir", d)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


def _term(signum, frame):
    """meson's timeout sends SIGTERM: leave through the finally block (local down)."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _term)
    sys.exit(main())
