"""Passwords as NIST SP 800-63B asks: at least 8 characters, not the username, not on
the shipped list of common passwords; for registering, changing and the CLI alike."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from security_helpers import csrf

from forecast.cli import main
from forecast.services import accounts
from forecast.services.errors import Invalid

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "username, password, message",
    [
        ("alice", "password", "most common"),
        ("alice", "12345678", "most common"),
        ("alice", "Iloveyou1", "most common"),  # the list is compared without case
        ("alice", "short", "at least 8"),
        ("LongName", "longname", "cannot be your username"),
    ],
)
def test_register_refuses_weak_passwords(client, db, username, password, message):
    r = client.post(
        "/register",
        data={
            "csrf_token": csrf(client, "/register"),
            "username": username,
            "password": password,
            "confirm": password,
        },
    )
    assert r.status_code == 422 and message in r.get_data(as_text=True)
    with db.session() as s:
        assert s.exec(accounts.select(accounts.User)).first() is None


def test_a_new_password_is_held_to_the_same_rules(app, make_user):
    from security_helpers import TOKEN_RE

    make_user("lanternfish", password="quiet-harbour-lantern")
    client = app.test_client()
    client.post(
        "/login",
        data={
            "csrf_token": csrf(client),
            "username": "lanternfish",
            "password": "quiet-harbour-lantern",
        },
    )
    for new, message in (
        ("qwertyuiop", "most common"),
        ("LanternFish", "cannot be your username"),
        ("Lantern", "at least 8"),
        ("new-harbour-9", None),
    ):
        html = client.get("/account/password").get_data(as_text=True)
        r = client.post(
            "/account/password",
            data={
                "csrf_token": TOKEN_RE.search(html).group(1),
                "old_password": "quiet-harbour-lantern",
                "new_password": new,
                "confirm": new,
            },
        )
        if message is None:  # not the username itself, not on the list: taken
            assert r.status_code == 303
            break
        assert r.status_code == 422 and message in r.get_data(as_text=True)


def test_the_cli_refuses_a_common_password(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECAST_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("FORECAST_DATABASE_URL", f"sqlite:///{tmp_path / 'site.db'}")
    r = CliRunner().invoke(main, ["user", "create", "teacher"], input="password1\n")
    assert r.exit_code == 1 and "most common" in r.output


def test_the_list_is_shipped_with_thousands_of_entries():
    common = accounts.common_passwords()
    assert len(common) > 8000 and {"password", "12345678", "iloveyou"} <= common
    assert all(len(p) >= accounts.MIN_PASSWORD for p in common)
    with pytest.raises(Invalid):
        accounts.check_password("baseball")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "data/*.txt" in data["package-data"]["forecast"]
    assert accounts.COMMON_PASSWORDS.read_text().startswith("# Common passwords")
