"""`forecast serve` keeps answering while a few clients send slowly or not at all.

Talks only to 127.0.0.1, and every wait is bounded: the whole test takes seconds.
"""

from __future__ import annotations

import socket
import time

from security_helpers import get

SLOW_CLIENTS = 6  # more than the server has threads (--workers 2)


def test_slow_and_idle_clients_do_not_starve_the_site(serve):
    base, port, _ = serve()
    dribblers = []
    idle = []
    try:
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            dribblers.append(s)
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        # Each slow client sends one more header line now and then, never the blank
        # line that ends its request; meanwhile others ask for the home page.
        slowest = 0.0
        for i in range(6):
            for s in dribblers:
                s.sendall(f"X-Slow-{i}: {'a' * 10}\r\n".encode())
            status, took = get(base + "/", timeout=5)
            assert status == 200
            slowest = max(slowest, took)
            time.sleep(0.5)
        assert slowest < 3, slowest
    finally:
        for s in dribblers + idle:
            s.close()
