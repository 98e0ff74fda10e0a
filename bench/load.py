"""A load driver on loopback: a small asyncio HTTP/1.1 client, bounded in requests and seconds.

    python bench/load.py --db sqlite --size small              # starts bench/server.py itself
    python bench/load.py --url http://127.0.0.1:5000 --db ...  # or measures a running server

Measures, in one run against one server (same threads, database and client):
the floor write (POST /_bench/write), placing a trade through the API, placing
one through the question page's form as a browser without JavaScript does
(players logged in through the login form first), the floor page (GET
/_bench/page), the question page, the leaderboard page and the home page;
prints requests/s and p50/p95/p99 latency for each and its ratio to its floor
(trades against the floor write, pages against the floor page).  The server
must be bench/server.py (the site with the floor's routes) with
FORECAST_RATELIMIT=off (this script starts it so).

The database is read directly once, to learn the open questions, their
outcomes and which token holders still have points to spend.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    OUT,
    SIZES,
    TOP_UP_TO,
    database_url,
    env_for,
    table,
    top_up_holders,
)

Request = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body


@dataclass
class Stats:
    name: str
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # each request's start, s into the phase
    paths: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    failures: int = 0  # connection errors
    # CPU seconds each kind of process spent in the measured part (CpuProbe's kinds)
    cpu: dict[str, float] = field(default_factory=dict)

    def slowest(self, n: int) -> list[str]:
        """The ``n`` slowest requests: when in the phase they started, what, how long."""
        worst = sorted(range(len(self.latencies)), key=self.latencies.__getitem__)[-n:]
        return [
            f"  {self.started[k]:7.3f}s  {self.latencies[k] * 1000:7.1f} ms  {self.paths[k]}"
            for k in sorted(worst, key=self.started.__getitem__)
        ]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        k = min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))
        return xs[k] * 1000

    def cpu_ms(self) -> dict[str, float]:
        """CPU milliseconds per request, by kind of process (CpuProbe)."""
        n = self.requests or 1
        return {kind: 1000 * seconds / n for kind, seconds in self.cpu.items()}

    def busy(self) -> float | None:
        """The share of this machine's cores those processes kept busy (None: not measured)."""
        if not self.cpu or not self.seconds:
            return None
        return sum(self.cpu.values()) / (self.seconds * (os.cpu_count() or 1))

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.pct(50), 2),
            "p95_ms": round(self.pct(95), 2),
            "p99_ms": round(self.pct(99), 2),
            "max_ms": round(max(self.latencies, default=0) * 1000, 2),
            "statuses": dict(self.statuses),
            "failures": self.failures,
            "cpu_ms": {kind: round(ms, 3) for kind, ms in self.cpu_ms().items()},
            "busy": None if (busy := self.busy()) is None else round(busy, 3),
        }


async def _one(host: str, port: int, req: Request) -> tuple[int, bytes]:
    method, path, headers, body = req
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        data = await reader.read()
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    status = int(data[9:12]) if data.startswith(b"HTTP/1.") else 0
    return status, data


async def _phase(
    host: str,
    port: int,
    name: str,
    make: Callable[[int], Request],
    *,
    requests: int,
    seconds: float,
    concurrency: int,
    warmup: int,
    cpu: CpuProbe | None = None,
) -> Stats:
    stats = Stats(name)
    counter = iter(range(10**12))
    start = time.perf_counter()

    async def worker(limit: int, deadline: float, record: bool) -> None:
        while True:
            k = next(counter)
            if k >= limit or time.perf_counter() > deadline:
                return
            req = make(k)
            t = time.perf_counter()
            try:
                status, _ = await _one(host, port, req)
            except OSError:
                stats.failures += 1
                continue
            if record:
                stats.latencies.append(time.perf_counter() - t)
                stats.started.append(t - start)
                stats.paths.append(req[1])
                stats.statuses[status] += 1

    if warmup:
        # Generous: the first request of each worker may build a cache (the leaderboard).
        end = time.perf_counter() + max(120.0, seconds)
        await asyncio.gather(*(worker(warmup, end, False) for _ in range(concurrency)))
    counter = iter(range(10**12))
    before = cpu() if cpu else {}
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(worker(requests, deadline, True) for _ in range(concurrency)))
    stats.seconds = time.perf_counter() - start
    if cpu:
        stats.cpu = {kind: t - before[kind] for kind, t in cpu().items()}
    stats.requests = len(stats.latencies)
    return stats


_HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """A process's user and system CPU seconds so far, from /proc (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _HZ


def postgres_pids() -> list[int]:
    """This machine's PostgreSQL processes (the server, its backends and helpers)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head = stat.read_text(errors="replace")
        except OSError:
            continue
        if head[head.find("(") + 1 : head.rfind(")")].startswith("postgres"):
            pids.append(int(stat.parent.name))
    return pids


@dataclass
class CpuProbe:
    """CPU seconds so far, by kind of process: ``server`` (the server's process; not
    known for a server this script did not start), ``database`` (this machine's
    PostgreSQL processes, when the site's database is one of them; SQLite works
    inside the server) and ``client`` (this load driver).  Read before and
    after each phase's measured part: on a machine whose cores the phase keeps
    busy, a phase's requests/s follows the CPU its requests cost, all three kinds
    together."""

    server_pids: Callable[[], list[int]] | None = None
    local_postgres: bool = False

    def __call__(self) -> dict[str, float]:
        out = {}
        if self.server_pids is not None:
            out["server"] = sum(map(cpu_seconds, self.server_pids()))
        if self.local_postgres:
            out["database"] = sum(map(cpu_seconds, postgres_pids()))
        out["client"] = time.process_time()
        return out

    @classmethod
    def for_site(cls, url: str, server: Server | None) -> CpuProbe | None:
        """The probe for a load on ``url``'s database: the server's processes when this
        script started it, the database's when it is PostgreSQL on this machine; None
        on a machine without /proc."""
        from sqlalchemy import make_url

        if not Path("/proc/self/stat").exists():
            return None
        db = make_url(url)  # no host: a socket on this machine
        local = db.get_backend_name() == "postgresql" and db.host in LOCAL_HOSTS
        return cls(server.pids if server else None, local)


LOCAL_HOSTS = (None, "", "127.0.0.1", "localhost", "::1", "[::1]")


@dataclass
class Target:
    """What the site holds, read once from the database."""

    slug: str
    questions: list[tuple[int, list[int]]]  # (question id, outcome ids)
    tokens: list[str]
    usernames: list[str] = field(default_factory=list)  # the token holders', in order
    # Logged-in browser sessions of token holders: (Cookie header, CSRF token), made
    # by log_in before the form phase.
    browsers: list[tuple[str, str]] = field(default_factory=list)


def read_target(url: str, tokens_file: Path, slug: str, min_balance: float) -> Target:
    from sqlalchemy import create_engine, text

    from forecast.market.money import UNIT

    data = json.loads(tokens_file.read_text())
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT q.id, o.id FROM question q JOIN competition c ON c.id = q.competition_id "
                "JOIN outcome o ON o.question_id = q.id WHERE c.slug = :slug "
                "AND q.status = 'open' ORDER BY q.id, o.position"
            ),
            {"slug": slug},
        ).all()
        rich = {
            name
            for (name,) in conn.execute(
                text(
                    'SELECT u.username FROM "user" u JOIN membership m ON m.user_id = u.id '
                    "JOIN competition c ON c.id = m.competition_id "
                    "WHERE c.slug = :slug AND m.balance >= :least"
                ),
                {"slug": slug, "least": int(min_balance * UNIT)},
            )
        }
    engine.dispose()
    questions: dict[int, list[int]] = {}
    for qid, oid in rows:
        questions.setdefault(qid, []).append(oid)
    holders = [t for t in data["tokens"] if t["username"] in rich]
    return Target(
        slug,
        list(questions.items()),
        [t["token"] for t in holders],
        [t["username"] for t in holders],
    )


BROWSERS = 50  # token holders logged in for the form phase
PASSWORD = "bench-password"  # every generated player's (bench/bulk.py)


def log_in(host: str, port: int, target: Target, n: int = BROWSERS) -> None:
    """Log up to ``n`` token holders in through the login form, as a browser does, and
    keep each session's cookie and the CSRF token its pages carry (target.browsers)."""
    import re
    from urllib.parse import urlencode

    def cookie(data: bytes, had: str = "") -> str:
        found = re.search(rb"Set-Cookie: (session=[^;]*)", data, re.I)
        return found.group(1).decode() if found else had

    def csrf(data: bytes) -> str:
        return (
            re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', data).group(1).decode()
        )

    async def one_browser(username: str) -> tuple[str, str]:
        _, page = await _one(host, port, ("GET", "/login", {}, b""))
        jar = cookie(page)
        form = urlencode({"username": username, "password": PASSWORD, "csrf_token": csrf(page)})
        headers = {"Cookie": jar, "Content-Type": "application/x-www-form-urlencoded"}
        status, done = await _one(host, port, ("POST", "/login", headers, form.encode()))
        if status != 303:
            raise RuntimeError(f"log in as {username}: {status}")
        jar = cookie(done, jar)
        qid = target.questions[0][0]
        _, page = await _one(host, port, ("GET", f"/questions/{qid}", {"Cookie": jar}, b""))
        return cookie(page, jar), csrf(page)  # the page's CSRF token is in its new cookie

    async def all_browsers() -> list[tuple[str, str]]:
        return list(await asyncio.gather(*(one_browser(u) for u in target.usernames[:n])))

    target.browsers = asyncio.run(all_browsers())


def requests_for(target: Target, host: str, port: int, seed: int = 7) -> dict[str, Callable]:
    rng = random.Random(seed)
    q_ids = [q for q, _ in target.questions]

    def trade(k: int) -> Request:
        qid, outcomes = target.questions[rng.randrange(len(target.questions))]
        body = json.dumps({"outcome": rng.choice(outcomes), "spend": TRADE_SPEND}).encode()
        token = target.tokens[k % len(target.tokens)]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return ("POST", f"/api/v1/questions/{qid}/trades", headers, body)

    def form_trade(k: int) -> Request:
        """The trade form as a browser without JavaScript posts it (answered 303)."""
        from urllib.parse import urlencode

        qid, outcomes = target.questions[rng.randrange(len(target.questions))]
        jar, csrf = target.browsers[k % len(target.browsers)]
        fields = {
            "csrf_token": csrf,
            "mode": "buy",
            "outcome": rng.choice(outcomes),
            "spend": TRADE_SPEND,
            "idempotency_key": f"bench-{os.getpid()}-{time.time_ns()}-{k}",
        }
        headers = {"Cookie": jar, "Content-Type": "application/x-www-form-urlencoded"}
        return ("POST", f"/questions/{qid}/trade", headers, urlencode(fields).encode())

    return {
        "floor write": lambda k: ("POST", "/_bench/write", {}, b""),
        "trade (API)": trade,
        "trade (form)": form_trade,
        "floor page": lambda k: ("GET", "/_bench/page", {}, b""),
        "question page": lambda k: ("GET", f"/questions/{q_ids[k % len(q_ids)]}", {}, b""),
        "leaderboard": lambda k: ("GET", f"/c/{target.slug}/leaderboard", {}, b""),
        "home page": lambda k: ("GET", "/", {}, b""),
        # The projector view's board, as a classroom wall reads it every few seconds.
        "projector": lambda k: ("GET", f"/c/{target.slug}/live", {"HX-Request": "true"}, b""),
    }


# Points a token holder needs to be used for trades.  Each trade spends TRADE_SPEND, and
# run.py's 3 rounds place up to 6,000 trades over the holders (at company size about 25
# have 5 points or more: about 2.4 points each).  The generator leaves its players
# anything from nothing to about 20 points; when too few are left, the trade phase says
# so, and `bench/generate.py --reset` makes fresh data.
TRADE_SPEND = 0.01
MIN_BALANCE = 5.0

FLOOR_OF = {
    "trade (API)": "floor write",
    "trade (form)": "floor write",
    "question page": "floor page",
    "leaderboard": "floor page",
    "home page": "floor page",
    "projector": "floor page",
}
PHASES = list(requests_for(Target("x", [(1, [1])], ["t"]), "h", 1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """bench/server.py (the site with the floor) with its default threads, rate limits off."""

    def __init__(self, url: str, *, workers: int | None = None, log: Path | None = None) -> None:
        self.port = free_port()
        OUT.mkdir(parents=True, exist_ok=True)
        self.log_path = log or OUT / "serve.log"
        server = Path(__file__).resolve().with_name("server.py")
        cmd = [sys.executable, str(server), "--port", str(self.port)]
        if workers:
            cmd += ["--workers", str(workers)]
        env = env_for(
            url,
            FORECAST_RATELIMIT="off",
            FORECAST_INSTANCE_PATH=str(OUT / "instance"),
        )
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 120) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log_path}")
            try:
                status, _ = asyncio.run(
                    _one("127.0.0.1", self.port, ("GET", "/_bench/page", {}, b""))
                )
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("server did not start")

    def pids(self) -> list[int]:
        """The server's process (one: serve_app runs requests on threads)."""
        return [self.proc.pid]

    def rss_mb(self) -> dict[int, float]:
        out = {}
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[pid] = int(line.split()[1]) / 1024
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def measure(
    host: str,
    port: int,
    target: Target,
    *,
    phases: list[str],
    requests: int,
    seconds: float,
    concurrency: int,
    warmup: int,
    progress: Callable[[str], None] = lambda s: None,
    cpu: CpuProbe | None = None,
) -> dict[str, Stats]:
    makers = requests_for(target, host, port)
    out: dict[str, Stats] = {}
    for name in phases:
        if name.startswith("trade") and not target.tokens:
            progress(f"{name}: skipped, no token holder has points left")
            continue
        if name == "trade (form)" and not target.browsers:
            log_in(host, port, target)
        progress(f"{name}: up to {requests} requests or {seconds:g}s, {concurrency} connections")
        with _no_collections():
            out[name] = asyncio.run(
                _phase(
                    host,
                    port,
                    name,
                    makers[name],
                    requests=requests,
                    seconds=seconds,
                    concurrency=concurrency,
                    warmup=warmup,
                    cpu=cpu,
                )
            )
    return out


@contextmanager
def _no_collections() -> Iterator[None]:
    """The client collects no garbage during a phase: a full collection stalled it for
    about 100 ms, which every request in flight would have counted as the server's."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def answered(status: int) -> bool:
    """A status that means the request did what it asked: 2xx, or the 303 a form POST
    answers with."""
    return 200 <= status < 300 or status == 303


def report(results: dict[str, Stats]) -> str:
    rows = []
    for name, s in results.items():
        floor = results.get(FLOOR_OF.get(name, ""))
        ok = sum(v for k, v in s.statuses.items() if answered(k))
        codes = ",".join(f"{k}:{v}" for k, v in sorted(s.statuses.items()))
        r_rps = f"{s.rps / floor.rps:.2f}x" if floor and floor.rps else ""
        r_p99 = f"{s.pct(99) / floor.pct(99):.2f}x" if floor and floor.latencies else ""
        rows.append(
            [
                name,
                f"{s.requests}",
                f"{ok}",
                f"{s.rps:.0f}",
                f"{s.pct(50):.1f}",
                f"{s.pct(95):.1f}",
                f"{s.pct(99):.1f}",
                r_rps,
                r_p99,
                cpu_text(s.cpu_ms(), s.busy()),
                codes,
            ]
        )
    header = ["phase", "reqs", "ok", "req/s", "p50 ms", "p95 ms", "p99 ms"]
    header += ["req/s vs floor", "p99 vs floor", CPU_HEADER, "statuses"]
    return table(rows, header)


CPU_HEADER = "CPU ms/req: server+db+client (cores busy)"


def cpu_text(cpu_ms: dict[str, float], busy: float | None) -> str:
    """A phase's CPU per request by kind, their sum and how busy the cores were."""
    if not cpu_ms:
        return ""
    parts = "+".join(f"{cpu_ms[k]:.2f}" for k in ("server", "database", "client") if k in cpu_ms)
    text = f"{parts} = {sum(cpu_ms.values()):.2f}"
    return text if busy is None else f"{text} ({busy:.0%})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", default="sqlite", help="sqlite, postgres, or a database URL")
    ap.add_argument("--size", default="small", choices=sorted(SIZES))
    ap.add_argument("--tokens-file", type=Path)
    ap.add_argument("--url", help="a running server (else one is started)")
    ap.add_argument("--workers", type=int, help="server threads (default: forecast's default)")
    ap.add_argument("--slug", default="public")
    ap.add_argument("--requests", type=int, default=2000, help="per phase")
    ap.add_argument("--seconds", type=float, default=20, help="per phase")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--slowest", type=int, default=0, help="print each phase's N slowest requests")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    url = database_url(args.db, args.size)
    kind = "sqlite" if url.startswith("sqlite") else "pg"
    tokens_file = args.tokens_file or OUT / f"tokens_{args.size}_{kind}.json"
    granted = top_up_holders(url, tokens_file, args.slug)  # --url too: trades spend them
    print(f"token holders topped up to {TOP_UP_TO:g} points: {granted}", file=sys.stderr)
    target = read_target(url, tokens_file, args.slug, min_balance=MIN_BALANCE)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    server = None
    if args.url:
        host, _, port = args.url.removeprefix("http://").rstrip("/").partition(":")
        port_n = int(port or 80)
    else:
        server = Server(url, workers=args.workers)
        host, port_n = "127.0.0.1", server.port
    cpu = CpuProbe.for_site(url, server)
    try:
        if server:
            server.wait()
        results = measure(
            host,
            port_n,
            target,
            phases=phases,
            requests=args.requests,
            seconds=args.seconds,
            concurrency=args.concurrency,
            warmup=args.warmup,
            progress=lambda s: print(s, file=sys.stderr, flush=True),
            cpu=cpu,
        )
        rss = server.rss_mb() if server else {}
    finally:
        if server:
            server.stop()
    print(report(results))
    for name, stats in results.items() if args.slowest else ():
        print(f"{name}: the {args.slowest} slowest (start in phase, latency, path)")
        print("\n".join(stats.slowest(args.slowest)))
    if rss:
        print("RSS of the server (MB): " + ", ".join(f"{v:.0f}" for v in rss.values()))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "db": kind,
                    "size": args.size,
                    "phases": [s.as_dict() for s in results.values()],
                    "rss_mb": list(rss.values()),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
