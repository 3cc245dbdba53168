#!/usr/bin/env python3
"""Test of nng-echo relay (bench/hop-bound's two bare nng hops): nng-echo serve and
nng-echo relay in front of it on free loopback ports, nng-echo load through the relay for
1 s: the output line shows requests > 0 and no failures, and the relay reports what it
forwarded when stopped. A relay with two upstreams (`serve --reply-size` 100 and 300 bytes)
sends each request to the upstream its first byte names (`load --lanes`): one lane gets
only 100-byte replies, two lanes both sizes. A relay whose upstream is down answers nothing: the loader's
requests time out, it reports failures= and exits 1, the relay counts upstream failures
and stays up. Bad relay arguments exit 2 with a message. No timing assertions: speed is
measured by bench/hop-bound. Every process is stopped by PID.

usage: test_nng_relay.py PATH_TO_NNG_ECHO
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from free_ports import free_base  # noqa: E402

ECHO = sys.argv[1]
failures = []
procs = []

LINE = re.compile(r"^echo concurrency=(\d+) size=(\d+) requests=(\d+) seconds=(\S+) "
                  r"req_per_sec=(\d+) failures=(\d+) reply_bytes=(\d+)$")
RELAY_END = re.compile(r"nng-echo relay: forwarded=(\d+) upstream_failures=(\d+)")


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, flush=True)


def start(*args):
    p = subprocess.Popen([ECHO, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    procs.append(p)
    return p


def stop(p):
    """SIGTERM by PID; returns (exit code, stderr)."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    return p.returncode, err


def load(url, *extra, concurrency="3"):
    return subprocess.run([ECHO, "load", url, "--concurrency", concurrency, "--size", "350",
                           "--seconds", "1", *extra], capture_output=True, text=True,
                          timeout=30)


try:
    base = free_base(3)
    serve_url = "tcp://127.0.0.1:%d" % base
    relay_url = "tcp://127.0.0.1:%d" % (base + 1)
    dead_url = "tcp://127.0.0.1:%d" % (base + 2)  # nothing listens here

    serve = start("serve", serve_url, "--contexts", "8")
    relay = start("relay", relay_url, serve_url, "--contexts", "8", "--timeout-ms", "2000")
    time.sleep(0.3)
    r = load(relay_url)
    check(r.returncode == 0, "load via relay: exit %d, stderr %r" % (r.returncode, r.stderr))
    m = LINE.match(r.stdout.strip())
    check(m is not None, "load line format: %r" % r.stdout)
    sent = 0
    if m:
        sent = int(m.group(3))
        check(m.group(1) == "3" and m.group(2) == "350", "options echoed: %r" % r.stdout)
        check(sent > 0, "requests > 0 through the relay: %r" % r.stdout)
        check(int(m.group(5)) > 0, "req_per_sec > 0: %r" % r.stdout)
        check(m.group(6) == "0", "no failures: %r" % r.stdout)
        check(m.group(7) == "350", "an echo's reply is the request: %r" % r.stdout)
    check(relay.poll() is None and serve.poll() is None, "serve and relay still up")
    rc, err = stop(relay)
    check(rc == 0, "relay exits 0 on SIGTERM, got %s, stderr %r" % (rc, err))
    e = RELAY_END.search(err)
    check(e is not None, "relay reports what it forwarded: %r" % err)
    if e:
        check(int(e.group(1)) >= sent > 0 and e.group(2) == "0",
              "relay forwarded >= the loader's replies, no upstream failure: %r" % err)

    # Two upstreams, replies of 100 and 300 bytes: the first byte (lane) picks one.
    base2 = free_base(3)
    small = start("serve", "tcp://127.0.0.1:%d" % base2, "--reply-size", "100")
    large = start("serve", "tcp://127.0.0.1:%d" % (base2 + 1), "--reply-size", "300")
    relay = start("relay", relay_url, "tcp://127.0.0.1:%d,tcp://127.0.0.1:%d"
                  % (base2, base2 + 1), "--contexts", "8")
    time.sleep(0.3)
    r = load(relay_url, concurrency="1")  # lane 0 only
    m = LINE.match(r.stdout.strip())
    check(r.returncode == 0 and m is not None and m.group(7) == "100",
          "one lane: every reply from upstream 0 (100 bytes): %r %r" % (r.stdout, r.stderr))
    r = load(relay_url, "--lanes", "2", concurrency="2")  # lanes 0 and 1
    m = LINE.match(r.stdout.strip())
    check(r.returncode == 0 and m is not None and 100 < int(m.group(7)) < 300,
          "two lanes: replies from both upstreams: %r %r" % (r.stdout, r.stderr))
    rc, err = stop(relay)
    check(rc == 0 and "upstream_failures=0" in err, "relay of two upstreams: %s %r" % (rc, err))
    stop(small)
    stop(large)

    # Upstream down: nothing answers, the loader's requests time out and are reported.
    relay = start("relay", relay_url, dead_url, "--contexts", "4", "--timeout-ms", "200")
    time.sleep(0.3)
    r = load(relay_url, "--timeout-ms", "400")
    check(r.returncode == 1, "load with upstream down exits 1: %d %r" % (r.returncode, r.stdout))
    m = LINE.match(r.stdout.strip())
    check(m is not None and m.group(3) == "0" and int(m.group(6)) > 0,
          "no replies and failures > 0 reported: %r" % r.stdout)
    check(relay.poll() is None, "the relay stays up when its upstream is down")
    rc, err = stop(relay)
    e = RELAY_END.search(err)
    check(rc == 0 and e is not None and int(e.group(2)) > 0,
          "relay counts upstream failures: %s %r" % (rc, err))
    stop(serve)

    for bad in (["relay"], ["relay", relay_url], ["relay", relay_url, "--contexts", "8"],
                ["relay", relay_url, serve_url, "--contexts", "0"],
                ["relay", relay_url, serve_url, "--contexts", "x"],
                ["relay", relay_url, serve_url, "--contexts"],
                ["relay", relay_url, serve_url, "--timeout-ms", "0"],
                ["relay", relay_url, serve_url, "--concurrency", "3"],
                ["relay", relay_url, serve_url, "--size", "10"],
                ["relay", relay_url, serve_url, "--tls-dir", "/tmp"],
                ["relay", relay_url, serve_url, "extra"],
                ["relay", relay_url, serve_url + ",,"], ["relay", relay_url, ","],
                ["relay", relay_url, ",".join([serve_url] * 17)],
                ["serve", serve_url, "--reply-size", "0"],
                ["load", relay_url, "--lanes", "0"], ["load", relay_url, "--lanes", "256"],
                ["load", relay_url, "--lanes", "2", "--size", "0"],
                ["relay", relay_url, serve_url, "--reply-size", "10"],
                ["load", relay_url, "--contexts", "3"], ["serve", serve_url, "--seconds", "1"],
                ["hop"]):
        r = subprocess.run([ECHO, *bad], capture_output=True, text=True, timeout=10)
        check(r.returncode == 2, "%r exits 2, got %d" % (bad, r.returncode))
        check("usage:" in r.stderr, "%r: usage on stderr: %r" % (bad, r.stderr))
        check(r.stdout == "", "%r: nothing on stdout" % bad)
    r = subprocess.run([ECHO, "relay", relay_url, serve_url, "--contexts", "0"],
                       capture_output=True, text=True, timeout=10)
    check("bad value '0' for --contexts" in r.stderr, "the message names the option: %r"
          % r.stderr)
    r = subprocess.run([ECHO, "relay", "nope://x", serve_url], capture_output=True, text=True,
                       timeout=10)
    check(r.returncode == 1 and "nope://x" in r.stderr, "a bad listen URL exits 1 and names it:"
          " %d %r" % (r.returncode, r.stderr))
    r = subprocess.run([ECHO, "--help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "nng-echo relay LISTEN_URL UPSTREAM_URL" in r.stdout, "--help")
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("nng-echo relay: all checks passed")
