"""The `forecast` command (built on Flask's CLI): serve, user, token, pack, audit, db."""

from __future__ import annotations

import subprocess
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from forecast import create_app
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
    """Migrate (in a process of its own: site.upgrade_apart) and seed an empty site;
    returns how many seed questions were created."""
    db = get_db()
    try:
        site.upgrade_apart(db.url)
    except subprocess.CalledProcessError:
        _fail("migrating the database failed; the error is above.")
    return db.transaction(lambda s: site.seed_if_empty(session=s))


SERVE_THREADS = 8  # `--workers`: the threads that run requests
IDLE_TIMEOUT = 30  # seconds a connection may sit without sending or reading anything


def _access_log(app):  # noqa: ANN001, ANN202
    """Wrap a WSGI app so that each request prints one line to standard output."""

    def logged(environ, start_response):  # noqa: ANN001, ANN202
        began = time.perf_counter()
        status = ["-"]

        def start(line, headers, exc_info=None):  # noqa: ANN001, ANN202
            status[0] = line.split(" ", 1)[0]
            return start_response(line, headers, exc_info)

        try:
            return app(environ, start)
        finally:
            path = environ.get("PATH_INFO", "")
            if environ.get("QUERY_STRING"):
                path += "?" + environ["QUERY_STRING"]
            ms = (time.perf_counter() - began) * 1000
            print(
                f'{environ.get("REMOTE_ADDR", "-")} "{environ.get("REQUEST_METHOD")} {path}" '
                f"{status[0]} {ms:.1f}ms",
                flush=True,
            )

    return logged


def serve_app(app: Flask, *, host: str, port: int, workers: int = SERVE_THREADS) -> None:
    """Serve a Flask app with waitress until interrupted (SIGINT ends it cleanly).

    waitress reads every request (headers and body) on its event loop and hands it
    to one of ``workers`` threads only when it is whole, so a client that sends
    slowly or not at all holds a socket, never a thread; a connection idle for
    IDLE_TIMEOUT seconds is closed.  A body larger than twice the app's
    MAX_CONTENT_LENGTH is refused before the app sees it (the app answers 413 for
    anything between).  With FORECAST_TRUSTED_PROXY set (the address of the reverse
    proxy in front), the client's address and scheme come from that proxy's
    X-Forwarded-For and X-Forwarded-Proto headers and from no one else's.
    """
    import waitress

    options = {}
    proxy = app.config.get("TRUSTED_PROXY")
    if proxy:
        options = {
            "trusted_proxy": proxy,
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            "clear_untrusted_proxy_headers": True,
        }
    limit = (app.config.get("MAX_CONTENT_LENGTH") or 1024 * 1024) * 2
    waitress.serve(
        _access_log(app),
        host=host,
        port=port,
        threads=workers,
        channel_timeout=IDLE_TIMEOUT,
        max_request_body_size=limit,
        asyncore_use_poll=True,  # no select() ceiling of 1024 sockets
        ident="forecast",
        **options,
    )


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    default=SERVE_THREADS,
    show_default=True,
    type=click.IntRange(min=1),
    help="threads that run requests (one process)",
)
@with_appcontext
def serve(host: str, port: int, workers: int) -> None:
    """Migrate, seed an empty site, and serve with waitress."""
    created = prepare_site()
    if created:
        click.echo(f"Loaded the seed pack: {created} questions in '{PUBLIC_SLUG}'.")
    click.echo(f"Serving on http://{host}:{port} with {workers} threads")
    serve_app(current_app._get_current_object(), host=host, port=port, workers=workers)


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
