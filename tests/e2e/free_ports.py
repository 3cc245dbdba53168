#!/usr/bin/env python3
"""Print a base port P such that P..P+N-1 and P+100..P+100+N-1 (the metrics ports of
`local up`) are all free on 127.0.0.1 (binds, never connects: a bare connect stalls an
nng listener). Usage: free_ports.py N"""
import random
import socket
import sys

n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 59000 - n)
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
        print(base)
        sys.exit(0)
sys.exit("no free port range found")
