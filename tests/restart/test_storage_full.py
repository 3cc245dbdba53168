#!/usr/bin/env python3
"""Storage full end to end (issue #7 part 3): real node, router and CLI processes.

A. LMDB map full: 1 shard x (primary + replica), synchronous replication, every node
   started with --map-size 1 --max-map-size 2 (a wrapper adds them). Puts of 48 KiB
   orders go on until one answers "storage full" (OSTORE_EFULL, CLI exit 1); then
   reads, stats and `verify` still work (replication not wedged), the primary's
   orderstore_storage_full{cause="map"} is 1; deleting orders works on the full node
   (deletes need pages too: the map reserve) and new puts succeed again, the gauge
   goes back to 0; every acknowledged order that was not deleted is readable with its
   value; restarted with --max-map-size 4 the cluster takes more orders than before.
B. Disk full: the node's data directory on a 6 MiB tmpfs with a 2.5 MiB ballast file;
   puts go on until "storage full", orderstore_storage_full{cause="disk"} is 1, the
   node stays up and serves reads; the ballast is removed and puts succeed again.
   Exits 77 (skip) when tmpfs cannot be mounted (not root, no CAP_SYS_ADMIN).
C. Map full to the last page (small orders, one per transaction): 1 shard x (primary +
   replica), asynchronous, --no-sync, every node with --max-map-size 1;
   orderstore-bench puts 300-byte orders one at a time until they answer OSTORE_EFULL,
   then 1-byte puts until one does too: deletes must still succeed (an LMDB delete
   needs free pages; without the node's delete reserve only the first one did and the
   node stayed full for good), and a put after them succeeds. The asynchronous replica
   (same --max-map-size) keeps up: `verify` is clean (without the reserve for replicas
   it stopped some LSNs behind, its pages laid out by other transactions).
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rs  # noqa: E402
from rs import Cluster, check, expect, run  # noqa: E402

VALUE = "v" * (48 * 1024)


def wrapper(tmp, extra, data_root=None):
    """A node binary that passes @extra and, with @data_root, keeps its data there."""
    path = os.path.join(tmp, "node-wrapper.sh")
    remap = ""
    if data_root:
        remap = ('args=""\nfor a in "$@"; do\n  case "$prev" in --data) a="' + data_root +
                 '/$(basename "$a")";; esac\n  args="$args \'$a\'"; prev="$a"\ndone\n'
                 'eval set -- $args\n')
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + remap + f'exec "{rs.NODE}" "$@" {extra}\n')
    os.chmod(path, 0o755)
    env = dict(rs.ENV)
    env["ORDERSTORE_NODE_BIN"] = path
    return env


def fill(c, env, tag, limit):
    """Puts orders until one answers storage full. Returns (acked ids, full_seen)."""
    acked = []
    for i in range(limit):
        oid = f"{tag}-{i}"
        rc, out, err = run("put", oid, "-", "--dir", c.dir, stdin=VALUE.encode(), env=env)
        if rc == 0:
            acked.append(oid)
            continue
        return acked, rc == 1 and "storage full" in err, err
    return acked, False, "no error after %d puts" % limit


def all_readable(c, env, ids):
    """IDs of @ids that do not read back with VALUE (one export, not a get per ID)."""
    return rs.missing(c, {i: VALUE for i in ids}, env)


def map_full():
    tmp_env_dir = __import__("tempfile").mkdtemp(prefix="ostore-wrap-")
    env = wrapper(tmp_env_dir, "--map-size 1 --max-map-size 2")
    c = Cluster(1, 1, env=env)
    try:
        if not c.ok:
            return
        acked, full, err = fill(c, env, "m", 400)
        check(full, "map full: a put answers 'storage full' (exit 1)", err[-300:])
        check(len(acked) >= 10, f"map full: {len(acked)} orders of 48 KiB fit before it")
        check(rs.wait_for(lambda: c.metric(0, 'orderstore_storage_full{cause="map"}') == 1, 5),
              "map full: orderstore_storage_full{cause=\"map\"} is 1 on the primary")
        got = run("get", acked[0], "--dir", c.dir, env=env)
        check(got[0] == 0 and got[1] == VALUE, "map full: reads keep working")
        expect(["stats", "--dir", c.dir], 0, "map full: stats answers", env=env)
        expect(["verify", "--dir", c.dir], 0, "map full: primary and replica in sync (verify)",
               env=env)
        # Deletes on the full node, then writes again.
        deleted = acked[: len(acked) // 2]
        bad = [i for i in deleted if run("del", i, "--dir", c.dir, env=env)[0] != 0]
        check(not bad, f"map full: {len(deleted)} deletes succeed on the full node", str(bad[:5]))
        more, full2, err2 = fill(c, env, "m2", 3)
        check(len(more) == 3, "map full: puts succeed again after the deletes", err2[-300:])
        check(rs.wait_for(lambda: c.metric(0, 'orderstore_storage_full{cause="map"}') == 0, 5),
              "map full: the gauge is back to 0 after a write committed")
        keep = acked[len(acked) // 2:] + more
        check(not all_readable(c, env, keep), "map full: every acknowledged order is readable")
        expect(["verify", "--dir", c.dir], 0, "map full: verify after the deletes", env=env)
        # A restart with a larger --max-map-size takes more.
        c.stop()
        env2 = wrapper(tmp_env_dir, "--map-size 1 --max-map-size 4")
        c.env = env2
        expect(["local", "up", "--dir", c.dir], 0, "map full: restart with --max-map-size 4",
               env=env2)
        extra, _, err3 = fill(c, env2, "m3", len(acked) + 5)
        check(len(extra) > len(acked) // 2 + 5,
              f"map full: after the restart {len(extra)} more orders fit", err3[-300:])
        check(not all_readable(c, env2, keep + extra), "map full: every order readable after the restart")
    finally:
        c.cleanup()
        __import__("shutil").rmtree(tmp_env_dir, ignore_errors=True)


def small_full(bench):
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix="ostore-wrap-")
    env = wrapper(tmp, "--map-size 1 --max-map-size 1")
    c = Cluster(1, 1, extra=("--no-sync", "--sync-replicas", "0"), env=env)
    try:
        if not c.ok:
            return
        subprocess.run([bench, "--dir", c.dir, "--workload", "put", "--concurrency", "1",
                        "--value-size", "300", "--records", "1000000", "--ops", "4000",
                        "--quiet"], capture_output=True, env=env, timeout=120)
        full = False
        for i in range(400):
            rc, _, err = run("put", f"tiny-{i}", "x", "--dir", c.dir, env=env)
            if rc != 0:
                full = rc == 1 and "storage full" in err
                break
        check(full, "last page: 1-byte puts answer 'storage full' in the end")
        ids = [i for i in (rs.export_values(c, env) or {}) if i and i.startswith("bench-")][:10]
        bad = [i for i in ids if run("del", i, "--dir", c.dir, env=env)[0] != 0]
        check(len(ids) == 10 and not bad, f"last page: {len(ids)} deletes succeed on the full node",
              str(bad[:5]))
        rc, _, err = run("put", "after-deletes", "x" * 300, "--dir", c.dir, env=env)
        check(rc == 0, "last page: a put succeeds after the deletes", err[-300:])
        check(rs.wait_for(lambda: run("verify", "--dir", c.dir, env=env)[0] == 0, 20, step=0.5),
              "last page: the replica follows (verify is clean)",
              run("verify", "--dir", c.dir, env=env)[1][-600:] +
              run("status", "--dir", c.dir, env=env)[1] + c.log(1)[-1500:])
    finally:
        c.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def disk_full():
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix="ostore-disk-")
    mnt = os.path.join(tmp, "disk")
    os.mkdir(mnt)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mnt],
                       capture_output=True)
    if p.returncode != 0:
        print("skip disk full: cannot mount tmpfs: " + p.stderr.decode().strip())
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    c = None
    try:
        env = wrapper(tmp, "", data_root=mnt)
        c = Cluster(1, 0, env=env)
        if not c.ok:
            return True
        ballast = os.path.join(mnt, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * (2560 * 1024))
        acked, full, err = fill(c, env, "d", 400)
        check(full, "disk full: a put answers 'storage full' (exit 1)", err[-300:])
        check(rs.wait_for(lambda: c.metric(0, 'orderstore_storage_full{cause="disk"}') == 1, 5),
              "disk full: orderstore_storage_full{cause=\"disk\"} is 1")
        check(os.kill(c.pid("node-0"), 0) is None, "disk full: the node is still running")
        got = run("get", acked[0], "--dir", c.dir, env=env)
        check(got[0] == 0 and got[1] == VALUE, "disk full: reads keep working")
        os.unlink(ballast)
        more, _, err2 = fill(c, env, "d2", 3)
        check(len(more) == 3, "disk full: puts succeed once space is freed", err2[-300:])
        check(rs.wait_for(lambda: c.metric(0, 'orderstore_storage_full{cause="disk"}') == 0, 5),
              "disk full: the gauge is back to 0")
        check(not all_readable(c, env, acked + more), "disk full: every acknowledged order is readable")
    finally:
        if c is not None:
            c.cleanup()
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return True


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    ran_disk = True
    if which in ("all", "map"):
        map_full()
    if which in ("all", "small"):
        small_full(os.environ.get("OSTORE_BENCH_BIN") or sys.argv[2])
    if which in ("all", "disk"):
        ran_disk = disk_full()
    if not ran_disk and which == "disk":
        sys.exit(77)
    rs.finish()
