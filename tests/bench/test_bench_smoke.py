"""The bench scripts at a tiny size: they run, keep the books, and print numbers.

Speed is measured by bench/run.py, never asserted here.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bench import bulk
from forecast.models import Position, Score, Trade
from forecast.services import audit, resolution, trading

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _audit(db) -> list[str]:
    with db.session() as s:
        return audit.audit(session=s)


def test_generator_books_every_trade_and_the_ledger_balances(db):
    summary = bulk.generate(db, players=3, questions_=2, trades=20, tokens=2, batch_size=7)
    print(f"\ngenerated 3 players, 2 questions, 20 trades: {summary.seconds}")
    assert summary.booked.trades == 20
    assert summary.booked.batches == 3
    assert len(summary.tokens) == 2
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Trade)).scalar_one() == 20
        assert s.execute(select(func.count()).select_from(Position)).scalar_one() > 0
    assert _audit(db) == []


def test_trading_goes_on_after_the_generator(db):
    summary = bulk.generate(db, players=3, questions_=2, trades=20, tokens=0)
    qid = summary.questions[0]
    with db.session() as s:
        row = s.execute(
            select(Trade.user_id, Trade.outcome_id).where(Trade.question_id == qid).limit(1)
        ).first()
    assert row is not None
    user_id, outcome_id = row
    order = trading.Order(outcome_id=outcome_id, spend=1)
    result = db.transaction(
        lambda s: trading.trade(session=s, user_id=user_id, question_id=qid, order=order)
    )
    assert result.trade.shares > 0
    assert _audit(db) == []


def test_a_wide_question_resolves_and_undoes_with_the_books_balanced(db):
    bulk.generate(db, players=5, questions_=1, trades=5, tokens=0)
    qid, yes, holders = bulk.wide_question(db, holders=5)
    assert holders == 5
    with db.session() as s:
        from forecast.models import User

        admin = s.execute(select(User.id).where(User.username == "bench-admin")).scalar_one()
    t = time.perf_counter()
    db.transaction(
        lambda s: resolution.resolve(session=s, user_id=admin, question_id=qid, outcome_id=yes)
    )
    took = time.perf_counter() - t
    with db.session() as s:
        scores = s.execute(
            select(func.count()).select_from(Score).where(Score.question_id == qid)
        ).scalar_one()
    assert scores == 5
    assert _audit(db) == []
    db.transaction(lambda s: resolution.undo(session=s, user_id=admin, question_id=qid))
    assert _audit(db) == []
    print(f"\nresolved a question with {holders} holders in {took * 1000:.1f} ms")


def test_the_load_driver_measures_every_phase_against_the_floor(tmp_path, capsys):
    from bench import generate, load

    url = f"sqlite:///{tmp_path / 'bench.db'}"
    tokens = tmp_path / "tokens.json"
    generate.main(["--size", "tiny", "--db", url, "--tokens-file", str(tokens)])
    target = load.read_target(url, tokens, "public", min_balance=20)
    assert target.tokens and target.questions
    server = load.Server(url, log=tmp_path / "serve.log")
    try:
        server.wait()
        results = load.measure(
            "127.0.0.1",
            server.port,
            target,
            phases=load.PHASES,
            requests=10,
            seconds=10,
            concurrency=2,
            warmup=2,
            cpu=load.CpuProbe.for_site(url, server),
        )
        rss = server.rss_mb()
    finally:
        server.stop()
    print("\n" + load.report(results))
    print("RSS of the server (MB):", rss)
    assert set(results) == set(load.PHASES)
    for name, stats in results.items():
        assert stats.requests == 10, name
        assert all(load.answered(code) for code in stats.statuses), (name, stats.statuses)
        # SQLite works inside the server: no database processes to count
        assert set(stats.cpu) == {"server", "client"}, stats.cpu
        assert stats.cpu["client"] > 0 and stats.cpu["server"] >= 0, stats.cpu
    assert len(rss) == 1  # one process: serve_app runs requests on threads
    # bench/report.py turns a run's results into the table of ratios and the goals.
    import json

    from bench import report, run

    result = {
        "size": "tiny",
        "db": "sqlite",
        "phases": run.summarise([results]),
        "rss_mb": list(rss.values()),
        "resolution": {"holders": 3, "resolve_s": 0.01, "undo_s": 0.01},
    }
    path = tmp_path / "results_tiny_sqlite.json"
    path.write_text(json.dumps(result))
    report.main([str(path)])
    printed = capsys.readouterr().out
    print(printed)
    assert "| trade via API: req/s ÷ floor write |" in printed
    assert "| trade (API): CPU ms/req, server+db+client (busy) | " in printed
    assert "CPU ms/req: server+db+client" in run.show(result["phases"])
    assert "question page p99 <= 3x the floor page: tiny/sqlite" in printed


def test_the_load_driver_tops_up_its_token_holders_when_it_measures_a_running_server(
    tmp_path, monkeypatch
):
    """`load.py --url` spends the same wallets as a load it serves itself: it tops them
    up first (bench/common.top_up_holders), before choosing who trades."""
    from bench import generate, load

    url = f"sqlite:///{tmp_path / 'bench.db'}"
    tokens = tmp_path / "tokens.json"
    generate.main(["--size", "tiny", "--db", url, "--tokens-file", str(tokens)])
    calls: list[tuple] = []
    read_target = load.read_target
    monkeypatch.setattr(
        load, "top_up_holders", lambda u, f, slug: calls.append(("top up", u, f, slug)) or 0
    )
    monkeypatch.setattr(
        load, "read_target", lambda *a, **k: calls.append(("target",)) or read_target(*a, **k)
    )
    monkeypatch.setattr(load, "measure", lambda *a, **k: calls.append(("measure",)) or {})
    monkeypatch.setattr(load, "report", lambda results: "")
    load.main(["--url", "http://127.0.0.1:9", "--db", url, "--tokens-file", str(tokens)])
    assert calls == [("top up", url, tokens, "public"), ("target",), ("measure",)]


def test_the_load_driver_collects_no_garbage_during_a_phase(monkeypatch):
    """A full collection in the client held every request in flight (about 100 ms)."""
    import gc

    from bench import load

    during = []

    async def phase(host, port, name, make, **kw):  # noqa: ANN001, ANN202
        during.append(gc.isenabled())
        return load.Stats(name)

    monkeypatch.setattr(load, "_phase", phase)
    target = load.Target("public", [(1, [1, 2])], ["t"])
    assert gc.isenabled()
    load.measure("h", 1, target, phases=load.PHASES, requests=1, seconds=1, concurrency=1, warmup=0)
    assert during == [False] * len(load.PHASES) and gc.isenabled()


def test_generator_keeps_each_members_trade_count_and_last_trade(db):
    from forecast.models import Membership

    bulk.generate(db, players=4, questions_=2, trades=30, tokens=0, batch_size=8)
    with db.session() as s:
        counted = dict(
            s.execute(select(Trade.membership_id, func.count()).group_by(Trade.membership_id)).all()
        )
        last = dict(
            s.execute(
                select(Trade.membership_id, func.max(Trade.id)).group_by(Trade.membership_id)
            ).all()
        )
        members = s.execute(
            select(Membership.id, Membership.trade_count, Membership.last_trade_at)
        ).all()
        for mid, n, at in members:
            assert n == counted.get(mid, 0)
            if mid in last:
                assert at == s.get(Trade, last[mid]).created_at
            else:
                assert at is None


def test_generator_counts_the_questions_each_member_traded(db):
    from forecast.models import Membership

    bulk.generate(db, players=4, questions_=3, trades=40, tokens=0, batch_size=9)
    with db.session() as s:
        want = dict(
            s.execute(
                select(
                    Position.membership_id, func.count(func.distinct(Position.question_id))
                ).group_by(Position.membership_id)
            ).all()
        )
        for mid, n in s.execute(select(Membership.id, Membership.questions_traded)).all():
            assert n == want.get(mid, 0)


def test_hotspots_profiles_a_page_a_trade_and_the_leaderboard(tmp_path, capsys, monkeypatch):
    from bench import generate, hotspots

    url = f"sqlite:///{tmp_path / 'bench.db'}"
    tokens = tmp_path / "tokens.json"
    generate.main(["--size", "tiny", "--db", url, "--tokens-file", str(tokens)])
    for name in (
        "FORECAST_DATABASE_URL",
        "FORECAST_RATELIMIT",
        "FORECAST_INSTANCE_PATH",
    ):
        monkeypatch.setenv(name, "")  # hotspots sets these; monkeypatch puts them back
    for target in ("home", "trade"):
        hotspots.main(
            [target, "--db", url, "--requests", "3", "--lines", "3", "--tokens-file", str(tokens)]
        )
    hotspots.main(["leaderboard-compute", "--db", url])
    printed = capsys.readouterr().out
    print(printed)
    assert "home: " in printed and "trade: " in printed and "function calls a request" in printed
    assert printed.count("version check") == 3


def test_a_run_tops_up_its_token_holders_through_the_ledger_and_warms_the_cache(db):
    from forecast.market.money import UNIT
    from forecast.models import Membership, User

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.common import top_up, warm_cache

    bulk.generate(db, players=4, questions_=2, trades=200, tokens=0, batch_size=50)
    names = ["player00001", "player00002"]

    def balances() -> dict[str, int]:
        with db.session() as s:
            wallets = select(User.username, Membership.balance).join(
                Membership, Membership.user_id == User.id
            )
            return dict(s.execute(wallets).all())

    before = balances()
    topped = top_up(db.url, names, "public", below=10_000, to=10_000)
    assert topped == 2
    after = balances()
    assert {n: after[n] for n in names} == {n: 10_000 * UNIT for n in names}
    assert all(after[n] == before[n] for n in before if n not in names)
    assert top_up(db.url, names, "public", below=10_000, to=10_000) == 0  # nothing to do
    with db.session() as s:
        assert audit.audit(session=s) == []  # the grants are in the ledger: exact
    assert warm_cache(db.url) >= 0.0


def test_a_postgresql_database_is_vacuumed_after_a_bulk_load_and_where_autovacuum_is_off(db):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.common import tidy

    bulk.generate(db, players=4, questions_=2, trades=50, tokens=0, batch_size=20)
    db.dispose()  # no pooled connection of this test in the way
    done = tidy(db.url, always=True)
    if db.is_sqlite:
        assert done is None
        return
    assert done is not None and done.startswith("VACUUM (ANALYZE)")
    with db.engine.connect() as conn:
        analyzed = conn.execute(
            text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'trade'")
        ).scalar()
        autovacuum = conn.execute(text("SHOW autovacuum")).scalar()
    assert analyzed
    assert (tidy(db.url) is None) == (autovacuum == "on")


def test_the_cpu_probe_counts_each_kind_of_process(monkeypatch):
    """load.CpuProbe: the server's processes, this machine's PostgreSQL when the site's
    database is one of them, and the client; a phase's CPU is the difference."""
    import os

    from bench import load

    probe = load.CpuProbe(lambda: [os.getpid()], local_postgres=False)
    before = probe()
    end = time.process_time() + 0.05
    while time.process_time() < end:  # burn 50 ms of CPU here, "the server" and the client
        pass
    after = probe()
    assert set(after) == {"server", "client"}
    assert after["client"] - before["client"] >= 0.05
    assert after["server"] - before["server"] >= 0.03  # /proc counts in clock ticks
    assert load.cpu_seconds(2**22 + 12345) == 0.0  # no such process: nothing
    stats = load.Stats("x", requests=10, seconds=0.5, cpu={"server": 0.02, "client": 0.01})
    assert stats.cpu_ms() == {"server": 2.0, "client": 1.0}
    assert stats.busy() == pytest.approx(0.03 / (0.5 * (os.cpu_count() or 1)))
    assert load.cpu_text(stats.cpu_ms(), 0.5) == "2.00+1.00 = 3.00 (50%)"

    server = load.Server.__new__(load.Server)
    monkeypatch.setattr(server, "pids", lambda: [1], raising=False)
    pg = load.CpuProbe.for_site("postgresql+psycopg://postgres@127.0.0.1:5432/x", server)
    assert pg.local_postgres and pg.server_pids() == [1]
    assert not load.CpuProbe.for_site(
        "postgresql+psycopg://u@db.example:5432/x", None
    ).local_postgres
    assert load.CpuProbe.for_site("postgresql+psycopg://127.0.0.1:5432/x", None).local_postgres
    assert load.CpuProbe.for_site("postgresql+psycopg:///x", None).local_postgres  # a socket
    assert set(load.CpuProbe.for_site("sqlite:///x.db", None)()) == {"client"}  # --url
    monkeypatch.setattr(load, "postgres_pids", lambda: [os.getpid()])
    assert "database" in pg()


def test_a_run_warns_when_earlier_runs_have_grown_its_data():
    """Each run adds its trades to the database; past 1.5x its size's, run.py says so."""
    from bench import run

    assert run.grown("small", 2_000) is None and run.grown("small", 3_000) is None
    warning = run.grown("small", 75_000)
    assert warning is not None and "75,000 trades, 37.5x the small size's 2,000" in warning
    assert run.grown("company", 1_006_000) is None


def test_instruction_counts_are_read_from_each_labelled_dump(tmp_path):
    """bench/instructions.py reads callgrind's dumps (one per target, labelled by
    ``callgrind_control -d``); the final dump at exit, unlabelled, is no target's."""
    from bench.instructions import counted

    def dump(n: int, trigger: str, total: int) -> None:
        (tmp_path / f"cg.out.{n}").write_text(
            f"# callgrind format\nversion: 1\ndesc: Trigger: {trigger}\n\n"
            f"events: Ir\nsummary: 0\n\nfl=x.c\nfn=f\n1 {total}\n\ntotals: {total}\n"
        )

    dump(1, "dump question-kept", 2_000_000)
    dump(2, "dump floor-page", 900_000)
    (tmp_path / "cg.out").write_text("desc: Trigger: Program termination\ntotals: 5\n")
    assert counted(tmp_path) == {"question-kept": 2_000_000, "floor-page": 900_000}


def test_an_ab_comparison_summarises_each_side_by_phase():
    """bench/ab.py: each side's runs by phase (req/s and p99 as ratios to the run's own
    floor, CPU a request summed over the kinds of process, and that CPU as a ratio to
    its floor's), medians with their range, and the change of the median, head
    against base."""
    from bench.ab import show, summary

    def result(rps: float, p99: float, cpu: float) -> dict:
        return {
            "phases": [
                # A floor has no ratio of its own.
                {"phase": "floor write", "cpu_ms": {"server": 1.5, "database": 0.5}},
                {
                    "phase": "trade (API)",
                    "floor": "floor write",
                    "rps_ratio": rps,
                    "p99_ratio": p99,
                    "cpu_ms": {"server": cpu - 1.0, "database": 0.5, "client": 0.5},
                },
            ]
        }

    rows = summary(
        {
            "base": [result(0.60, 1.5, 6.0), result(0.64, 1.7, 6.4)],
            "head": [result(0.69, 1.4, 5.4), result(0.71, 1.2, 5.0)],
        }
    )
    assert [r["phase"] for r in rows] == ["floor write", "trade (API)"]
    floor = {"rps_ratio": [], "p99_ratio": [], "cpu_ms": [2.0, 2.0], "cpu_ratio": []}
    assert rows[0]["base"] == floor
    assert rows[1]["head"] == {
        "rps_ratio": [0.69, 0.71],
        "p99_ratio": [1.4, 1.2],
        "cpu_ms": [5.4, 5.0],
        "cpu_ratio": [2.7, 2.5],
    }
    text = show(rows, {"base": "abc123", "head": "working tree"})
    assert "abc123" in text.splitlines()[0] and "working tree" in text.splitlines()[0]
    line = next(x for x in text.splitlines() if "req/s" in x)
    assert "0.62x (0.60-0.64)" in line and "0.70x (0.69-0.71)" in line and "+13%" in line
    cpu = next(x for x in text.splitlines() if "trade" in x and "CPU ms" in x)
    assert "6.20 (6.00-6.40)" in cpu and "5.20 (5.00-5.40)" in cpu and "-16%" in cpu
    ratio = next(x for x in text.splitlines() if "floor's" in x)
    assert "3.10x (3.00-3.20)" in ratio and "2.60x (2.50-2.70)" in ratio and "-16%" in ratio
    floors = [x for x in text.splitlines() if x.startswith("floor write")]
    assert len(floors) == 1 and "CPU ms" in floors[0]  # a floor's own CPU, no ratio


def test_an_ab_comparison_checks_out_a_commit_beside_this_tree(tmp_path):
    """The base is a git worktree whose bench/out is this tree's (the same databases and
    tokens), taken away again afterwards; two commits may share a database only if
    every migration is the same, text included; each side goes first in every other
    pair."""
    import subprocess

    from bench import ab
    from bench.common import OUT

    turns = [("base", "head"), ("head", "base"), ("base", "head")]
    assert [ab.order(k) for k in (1, 2, 3)] == turns
    mine = ab.migrations(ROOT)
    assert mine and all(len(digest) == 64 for digest in mine.values())
    mended = tmp_path / "mended"
    (mended / ab.MIGRATIONS).mkdir(parents=True)
    for name in mine:
        (mended / ab.MIGRATIONS / name).write_bytes((ROOT / ab.MIGRATIONS / name).read_bytes())
    assert ab.migrations(mended) == mine
    (mended / ab.MIGRATIONS / sorted(mine)[-1]).write_text("# mended in place\n")
    assert ab.migrations(mended) != mine

    if subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    tree = tmp_path / "base"
    try:
        ab.checkout("HEAD", tree)
        assert (tree / "bench" / "run.py").exists()
        assert (tree / "bench" / "out").resolve() == OUT.resolve() and OUT.is_dir()
        assert ab.migrations(tree).keys() == mine.keys()
    finally:
        ab.remove(tree)
    assert not tree.exists()
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True
    ).stdout
    assert str(tree) not in listed
