"""The `forecast` command (built on Flask's CLI): serve, user, token, pack, audit, db."""

from __future__ import annotations

import gc
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from forecast import create_app, malloc
from forecast.db import get_db
from forecast.services import accounts, audit, packs, site
from forecast.services.access import get_competition
from forecast.services.competitions import PUBLIC_SLUG
from forecast.services.errors import DomainError


def _app(*_a, **_kw):
    return create_app()


@click.group(cls=FlaskGroup, create_app=_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """forecast: a play-money prediction market for a class or an office."""


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def prepare_site() -> int:
    """Migrate and seed an empty site; returns how many seed questions were created."""
    db = get_db()
    site.upgrade(db.url)
    return db.transaction(lambda s: site.seed_if_empty(session=s))


WORKER_SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005


def _worker_init(worker) -> None:  # noqa: ANN001
    """Each gunicorn worker: hand the GIL over sooner than CPython's default.

    Also freezes what the worker loaded (see below), and has every thread
    allocate from one arena (forecast.malloc).

    A worker serves requests on its main thread, and a large leaderboard is
    recomputed in a thread beside it (services.queries).  Each time the
    request thread comes back from the database it must win the GIL back
    from that busy thread, and by default it waits up to 5 ms to be let in:
    a page of ten queries took 50 ms longer while a leaderboard was being
    computed.  Half a millisecond keeps that wait small; with one thread
    running it changes nothing.
    """
    sys.setswitchinterval(WORKER_SWITCH_INTERVAL)
    malloc.one_arena()  # before any thread: see forecast.malloc
    # What the worker has loaded (the app, its modules: about 95,000 objects) lives as
    # long as the worker: keep it out of the collector's full passes, which walked it
    # all each time (80 ms on this machine, and every request in the worker waited).
    gc.collect()
    gc.freeze()


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@with_appcontext
def serve(host: str, port: int, workers: int) -> None:
    """Migrate, seed an empty site, and serve with gunicorn."""
    created = prepare_site()
    if created:
        click.echo(f"Loaded the seed pack: {created} questions in '{PUBLIC_SLUG}'.")
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            self.cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s %(b)s %(M)sms')
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("post_worker_init", _worker_init)

        def load(self):
            return create_app()

    get_db().dispose()  # workers open their own connections after the fork
    click.echo(f"Serving on http://{host}:{port} with {workers} workers")
    _Server().run()


@main.group("user")
def user_group() -> None:
    """Manage accounts."""


@user_group.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="make a site admin")
@with_appcontext
def user_create(name: str, admin: bool) -> None:
    """Create an account; the password is read from standard input (one line)."""
    password = sys.stdin.readline().rstrip("\r\n")
    prepare_site()
    try:
        user = get_db().transaction(
            lambda s: accounts.create_user(
                session=s, username=name, password=password, is_admin=admin
            )
        )
    except DomainError as e:
        _fail(e.message)
    click.echo(f"Created {user.username}{' (admin)' if user.is_admin else ''}.")


@main.group("token")
def token_group() -> None:
    """Manage API tokens."""


@token_group.command("create")
@click.argument("name")
@click.option("--label", default="cli", help="a name for the token")
@with_appcontext
def token_create(name: str, label: str) -> None:
    """Create an API token for NAME; it is printed alone on the last line."""

    def use_case(s):
        user = accounts.find_user(s, name)
        return accounts.create_token(session=s, user_id=user.id, name=label)[1]

    try:
        plain = get_db().transaction(use_case)
    except DomainError as e:
        _fail(e.message)
    click.echo("API token (shown once; keep it secret):")
    click.echo(plain)


@main.group("pack")
def pack_group() -> None:
    """Question packs."""


@pack_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--competition", "slug", default=PUBLIC_SLUG, show_default=True)
@with_appcontext
def pack_load(file: str, slug: str) -> None:
    """Load a question pack into a competition."""
    prepare_site()
    with open(file, encoding="utf-8") as f:
        text = f.read()

    def use_case(s):
        comp = get_competition(s, slug)
        return packs.load(
            session=s, text=text, competition=comp, user_id=None, check_moderator=False
        )

    try:
        created = get_db().transaction(use_case)
    except DomainError as e:
        _fail(f"{file}: {e.message}")
    click.echo(f"Loaded {len(created)} new questions into '{slug}'.")


@pack_group.command("export")
@click.option("--competition", "slug", default=PUBLIC_SLUG, show_default=True)
@with_appcontext
def pack_export(slug: str) -> None:
    """Print a competition's questions as a pack file."""
    with get_db().session() as s:
        try:
            click.echo(packs.export(session=s, competition=get_competition(s, slug)), nl=False)
        except DomainError as e:
            _fail(e.message)


@main.command("audit")
@with_appcontext
def audit_cmd() -> None:
    """Check the ledger invariant in every competition (exit 1 with a report when broken)."""
    with get_db().session() as s:
        problems = audit.audit(session=s)
    if problems:
        click.echo("The books do not balance:")
        for p in problems:
            click.echo(f"  {p}")
        sys.exit(1)
    click.echo("Audit OK: every competition's ledger balances to the last unit.")


@main.group("db")
def db_group() -> None:
    """Database."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Apply migrations."""
    site.upgrade(current_app.config["DATABASE_URL"])
    click.echo("Database is up to date.")
