#!/usr/bin/env python3
"""Restart safety and re-seed end to end (issue #7 part 4): real processes and the CLI.

1 shard x (primary node 0 + replica node 1), synchronous replication; 40 orders are
acknowledged, then:
  A. truncated: node 1 is SIGKILLed and its data.mdb cut to half: the node binary exits
     with status 3 and one error line naming the file and "truncated"; `local start`
     reports the failure too. `reseed --dir D --node 1` moves the directory aside (kept),
     starts node 1 empty, it re-seeds and catches up; `verify` is clean.
  B. meta page overwritten (magic of meta page 0): exit 3, "not an LMDB file"; the
     explicit form `reseed --router URL --node 1 --data DIR` moves it aside and says how
     to start the node, which then re-seeds itself (`verify` clean).
  C. corrupted page in the primary (the root page of "orders" zeroed after the node is
     killed): exit 3; `reseed --node 0` refuses (it is the primary) and says to fail
     over; `reseed --node 0 --failover` promotes node 1 and re-seeds node 0 from it;
     every acknowledged order (also those written after A) reads back with its value,
     `verify` is clean.
  E. (before A) refusals that move nothing: the explicit form on the running primary's
     directory under another node's id ("belongs to node 0") and under its own id (node.lock
     held: "in use", also with --failover: no failover happens), on the running replica's;
     `--node 99` is "no node 99 in the cluster map". In B the node.created marker names
     node 1 (refused as node 0's while stopped too); blanked, the reseed is refused ("cannot tell") until --force-unknown-dir.
  D. a single-node shard (1 x 1): its damaged primary cannot be re-seeded: refused.
"""
import glob
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rs  # noqa: E402
from rs import Cluster, check, expect, run  # noqa: E402


def put_orders(c, tag, n):
    acked = {}
    for i in range(n):
        oid, val = f"{tag}-{i}", f'{{"order":"{tag}-{i}","pad":"{"x" * (i * 37 % 900)}"}}'
        if run("put", oid, val, "--dir", c.dir)[0] == 0:
            acked[oid] = val
    return acked


def readable(c, acked):
    """IDs of @acked whose value does not read back (one export)."""
    return rs.missing(c, acked, decode=True)


def node_direct(c, i, data=None):
    """Runs the node binary on its data directory; returns (exit status, stderr)."""
    data = data or os.path.join(c.dir, f"node-{i}")
    p = subprocess.run([rs.NODE, "--id", str(i), "--listen", f"tcp://127.0.0.1:{rs.free_base(1)}",
                        "--data", data], capture_output=True, timeout=30)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def expect_damaged(c, i, what, word):
    rc, err = node_direct(c, i)
    lines = [ln for ln in err.splitlines() if "data file damaged" in ln]
    check(rc == 3 and len(lines) == 1 and word in lines[0] and "data.mdb" in lines[0]
          and "Sanitizer" not in err and "runtime error:" not in err,
          f"{what}: node exits 3 with one line naming the file and '{word}'",
          f"(rc {rc}, stderr {err[-600:]!r})")


def kill_node(c, i):
    expect(["local", "kill", "--dir", c.dir, i], 0, f"kill node {i}")
    rs.wait_for(lambda: not os.path.exists(f"/proc/{c.pid(f'node-{i}')}") or c.pid(f"node-{i}") == 0, 5)
    time.sleep(0.2)


def orders_root(path):
    """Page number of the root of the DB 'orders' (LMDB 0.9 layout, 64-bit)."""
    with open(path, "rb") as f:
        head = f.read(2 * 65536)
    psize = struct.unpack_from("<I", head, 16 + 24)[0] or 4096  # FREE_DBI md_pad = page size
    metas = []
    for p in (0, 1):
        off = p * psize
        txnid = struct.unpack_from("<Q", head, off + 144)[0]
        main_root = struct.unpack_from("<Q", head, off + 128)[0]
        metas.append((txnid, main_root))
    main_root = max(metas)[1]
    with open(path, "rb") as f:
        f.seek(main_root * psize)
        page = f.read(psize)
    flags, lower = struct.unpack_from("<HH", page, 10)
    for k in range((lower - 16) // 2):
        ptr = struct.unpack_from("<H", page, 16 + 2 * k)[0]
        dsize, _, nflags, ksize = struct.unpack_from("<HHHH", page, ptr)
        key = page[ptr + 8: ptr + 8 + ksize]
        if key == b"orders":
            db = page[ptr + 8 + ksize: ptr + 8 + ksize + 48]
            return struct.unpack_from("<Q", db, 40)[0], psize
    return None, psize


def first_child(path, pgno, psize):
    """Page number of the first child of branch page @pgno, None if it is no branch page."""
    with open(path, "rb") as f:
        f.seek(pgno * psize)
        page = f.read(psize)
    flags, lower = struct.unpack_from("<HH", page, 10)
    if not flags & 0x01 or lower < 18:  # P_BRANCH, one node pointer at least
        return None
    ptr = struct.unpack_from("<H", page, 16)[0]
    lo, hi, high = struct.unpack_from("<HHH", page, ptr)  # mn_lo, mn_hi, mn_flags
    return lo | hi << 16 | high << 32


def refused_while_running(c):
    """E: refusals of the explicit form while both nodes run; nothing is moved."""
    router = f"tcp://127.0.0.1:{c.base}"
    data0, data1 = (os.path.join(c.dir, f"node-{i}") for i in (0, 1))
    pids = (c.pid("node-0"), c.pid("node-1"))
    cases = [([1, data0], "belongs to node 0", "another node's directory"),
             ([0, data0], "in use", "the running primary's own directory"),
             ([0, data0, "--failover"], "in use", "the running primary's, with --failover"),
             ([1, data1], "in use", "the running replica's own directory")]
    for (node, data, *more), has, what in cases:
        expect(["reseed", "--router", router, "--node", node, "--data", data, *more], 1,
               f"explicit form refuses {what}", has=has)
    expect(["reseed", "--dir", c.dir, "--node", 99], 1, "an unknown node is named as such",
           has="no node 99 in the cluster map")
    check(not glob.glob(os.path.join(c.dir, "node-*.damaged-*"))
          and all(os.path.exists(os.path.join(d, "data.mdb")) for d in (data0, data1)),
          "refused reseeds moved nothing")
    check(all(p > 0 and os.path.exists(f"/proc/{p}") for p in pids)
          and (c.pid("node-0"), c.pid("node-1")) == pids, "both nodes still run")
    rc, out, _ = run("status", "--dir", c.dir)
    check(rc == 0 and "primary" in out, "status answers after the refusals", out[-400:])


def main():
    c = Cluster(1, 1)
    d = None
    try:
        if not c.ok:
            return
        acked = put_orders(c, "a", 40)
        check(len(acked) == 40, f"{len(acked)} of 40 orders acknowledged")

        # Usage errors answer 2 and change nothing.
        for args in (["--dir", c.dir], ["--node", 1], ["--node", 1, "--dir", c.dir, "--data", c.dir],
                     ["--node", "x", "--dir", c.dir]):
            expect(["reseed"] + args, 2, f"usage: reseed {' '.join(map(str, args))} -> 2")
        expect(["reseed", "--node", 1, "--dir", c.dir], 1, "a running node is not re-seeded",
               has="runs")
        refused_while_running(c)

        # A. truncated replica data file.
        kill_node(c, 1)
        f1 = os.path.join(c.dir, "node-1", "data.mdb")
        os.truncate(f1, os.path.getsize(f1) // 2)
        expect_damaged(c, 1, "truncated", "truncated")
        expect(["local", "start", "--dir", c.dir, 1], 1, "truncated: local start fails with status 3",
               has="status 3")
        more = put_orders(c, "b", 10)  # sync mode: refused while the only replica is down
        rc, out, err = run("reseed", "--dir", c.dir, "--node", 1, timeout=120)
        check(rc == 0 and "re-seeded" in out, "truncated: reseed --node 1 re-seeds the replica",
              f"(rc {rc} {out[-500:]!r} {err[-800:]!r})")
        check(len(glob.glob(os.path.join(c.dir, "node-1.damaged-*", "data.mdb"))) == 1,
              "truncated: the damaged directory is kept aside")
        expect(["verify", "--dir", c.dir], 0, "truncated: verify is clean after the reseed")

        # B. meta page magic overwritten (replica).
        kill_node(c, 1)
        with open(f1, "r+b") as f:
            f.seek(16)
            f.write(b"\0\0\0\0")
        expect_damaged(c, 1, "meta page", "not an LMDB file")
        # The explicit form: cluster by --router, the data directory by --data.
        router = f"tcp://127.0.0.1:{c.base}"
        data1 = os.path.join(c.dir, "node-1")
        marker = os.path.join(data1, "node.created")
        with open(marker) as f:
            check(f.read() == "node_id 1\n", "node.created names the node (node_id 1)")
        expect(["reseed", "--router", router, "--node", 0, "--data", data1], 1,
               "meta page: the stopped node 1's directory is refused as node 0's",
               has="belongs to node 1")
        open(marker, "w").close()  # as written before the marker named its node
        expect(["reseed", "--router", router, "--node", 1, "--data", data1], 1,
               "meta page: a directory that does not name its node is refused", has="cannot tell")
        check(os.path.exists(f1), "meta page: the refused reseed moved nothing")
        rc, out, err = run("reseed", "--router", router, "--node", 1, "--data", data1,
                           "--force-unknown-dir", timeout=60)
        check(rc == 0 and "now start orderstore-node --id 1" in out and os.listdir(data1) == []
              and len(glob.glob(data1 + ".damaged-*")) == 2,
              "meta page: reseed --router URL --data DIR moves it aside, leaves an empty "
              "directory and says how to start", f"(rc {rc} {out[-400:]!r} {err[-600:]!r})")
        expect(["local", "start", "--dir", c.dir, 1], 0, "meta page: the node starts empty")
        check(rs.wait_for(lambda: run("verify", "--dir", c.dir)[0] == 0, 30, step=0.5),
              "meta page: the node re-seeds itself; verify is clean")

        # C. corrupted page in the primary.
        acked.update(more)
        acked.update(put_orders(c, "c", 10))
        kill_node(c, 0)
        f0 = os.path.join(c.dir, "node-0", "data.mdb")
        root, psize = orders_root(f0)
        check(root is not None and root > 1, f"corrupt page: found the orders root page {root}")
        with open(f0, "r+b") as f:
            f.seek(root * psize)
            f.write(b"\0" * psize)
        expect_damaged(c, 0, "corrupt page", "MDB_CORRUPTED")
        expect(["reseed", "--dir", c.dir, "--node", 0], 1,
               "corrupt page: reseed of the primary without --failover is refused", has="failover")
        check(os.path.exists(f0), "corrupt page: a refused reseed moves nothing")
        rc, out, err = run("reseed", "--dir", c.dir, "--node", 0, "--failover", "--timeout-ms", 700,
                           timeout=120)
        check(rc == 0 and "re-seeded" in out, "corrupt page: reseed --failover re-seeds node 0",
              f"(rc {rc} {out[-600:]!r} {err[-800:]!r})")
        bad = readable(c, acked)
        check(not bad, f"every acknowledged order ({len(acked)}) reads back", str(bad[:5]))
        expect(["verify", "--dir", c.dir], 0, "corrupt page: verify is clean after the reseed")
        c.cleanup()

        # D. single-node shard: nothing to re-seed from.
        d = Cluster(1, 0)
        if d.ok:
            put_orders(d, "d", 3)
            # A zeroed leaf page under a branch page trips an LMDB assertion (abort) in the
            # start-up walk: that too is "damaged", exit 3 (not a SIGABRT crash).
            bench = os.path.join(os.path.dirname(rs.CLI), "..", "bench", "orderstore-bench")
            p = subprocess.run([bench, "--dir", d.dir, "--workload", "C", "--records", "2000",
                                "--seconds", "1", "--concurrency", "4"], capture_output=True,
                               env=rs.ENV, timeout=120)
            check(p.returncode == 0, "zeroed leaf: 2,000 orders loaded", p.stderr[-400:].decode())
            kill_node(d, 0)
            fd = os.path.join(d.dir, "node-0", "data.mdb")
            root, psize = orders_root(fd)
            leaf = first_child(fd, root, psize)
            check(leaf is not None, f"zeroed leaf: the orders root {root} is a branch page")
            if leaf is not None:
                with open(fd, "r+b") as f:
                    f.seek(leaf * psize)
                    f.write(b"\0" * psize)
                expect_damaged(d, 0, "zeroed leaf page", "page")
            os.truncate(os.path.join(d.dir, "node-0", "data.mdb"), 4096 * 3)
            expect(["reseed", "--dir", d.dir, "--node", 0, "--failover"], 1,
                   "single node: reseed refused (no copy of the data)", has="only node")
            check(os.path.exists(os.path.join(d.dir, "node-0", "data.mdb")),
                  "single node: the data directory stays in place")
    finally:
        c.cleanup()
        if d is not None:
            d.cleanup()


if __name__ == "__main__":
    main()
    rs.finish()
