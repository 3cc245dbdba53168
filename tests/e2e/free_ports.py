#!/usr/bin/env python3
"""A base port P such that P..P+N-1 and P+100..P+100+N-1 (the metrics ports of
`local up`) are all free on 127.0.0.1 (binds, never connects: a bare connect stalls an
nng listener), below the kernel's ephemeral port range. As a script: print it (usage: free_ports.py N). As a module (the Python
tests): free_base(n)."""
import random
import socket
import sys


def free_base(n, below=None):
    """@below: every port (metrics ports included) under it; default the kernel's first
    ephemeral port (ephemeral_low()): a process restarted on its port must not find it
    taken by an outgoing connection (nng dialers redialling a stopped node can even
    connect to themselves on an ephemeral port)."""
    if below is None:
        below = ephemeral_low()
    top = max(20000 + n, below - 100 - n)
    for _ in range(500):
        base = random.randint(20000, top)
        socks = []
        try:
            for p in list(range(base, base + n)) + list(range(base + 100, base + 100 + n)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                socks.append(s)
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        if len(socks) == 2 * n:
            return base
    raise RuntimeError("no free port range found")


def ephemeral_low():
    """The first port of the kernel's ephemeral range (outgoing connections' source ports)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


if __name__ == "__main__":
    try:
        print(free_base(int(sys.argv[1])))
    except (IndexError, ValueError):
        sys.exit("usage: free_ports.py N")
    except RuntimeError as e:
        sys.exit(str(e))
