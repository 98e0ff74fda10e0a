"""Packs are plain data of a bounded size: no YAML anchors or aliases, no file or
expansion past the limits, no text a database cannot store; each refusal is a fast
422 that names the line."""

from __future__ import annotations

import io
import time

import pytest
from sqlmodel import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from forecast.models import Question
from forecast.services import competitions, packs

QUESTION = "  - key: a\n    title: A?\n    close_at: 2099-01-01T00:00:00Z\n"


def _bomb(levels: int) -> str:
    """The billion-laughs shape: each level an anchored list of ten aliases of the last."""
    lines = ['a0: &a0 ["lol"]']
    for k in range(1, levels + 1):
        lines.append(f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def teacher_client(make_user, tx, signed_in):
    teacher = make_user("teacher")
    tx(
        lambda s: competitions.create_competition(
            session=s, user_id=teacher.id, name="Class", slug="class", starting_balance=100
        )
    )
    return signed_in(teacher, "/c/class/settings")


def _preview(teacher_client, text: str):
    client, token = teacher_client
    began = time.monotonic()
    # encoded here in memory: the test client spools a large upload to a file it leaves open
    upload = FileStorage(io.BytesIO(text.encode()), filename="p.yaml")
    boundary, body = encode_multipart({"csrf_token": token, "shipped": "", "file": upload})
    r = client.post(
        "/c/class/packs/preview",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    return r, time.monotonic() - began


def test_anchors_and_aliases_are_refused_at_their_line(teacher_client):
    text = "pack: p\nquestions:\n" + QUESTION + _bomb(4)
    r, took = _preview(teacher_client, text)
    html = r.get_data(as_text=True)
    assert r.status_code == 422, html
    assert "line 6" in html and "anchors (&amp;name) are not allowed" in html
    assert took < 1
    # an alias whose anchor is refused, and a merge key (it needs an alias), alike
    with pytest.raises(packs.PackError, match="line 2: .*anchors"):
        packs.parse("pack: p\nx: &x 1\nquestions:\n" + QUESTION)
    with pytest.raises(packs.PackError, match="aliases"):
        packs.parse("pack: p\nx: *x\n")


def test_the_whole_bomb_is_refused_in_a_moment():
    began = time.monotonic()
    with pytest.raises(packs.PackError, match="line 1: .*anchors"):
        packs.parse(_bomb(5))
    assert time.monotonic() - began < 0.5


def test_a_pack_over_the_size_limit_is_refused(teacher_client):
    padding = "# " + "x" * 1000 + "\n"
    text = "pack: p\nquestions:\n" + QUESTION + padding * (packs.MAX_PACK_BYTES // 1000)
    assert len(text) > packs.MAX_PACK_BYTES
    r, took = _preview(teacher_client, text)
    assert r.status_code == 422 and "too large" in r.get_data(as_text=True)
    assert took < 1


def test_a_pack_of_too_many_values_is_refused(teacher_client):
    text = "pack: p\nquestions:\n" + QUESTION + "extra: [" + "1," * packs.MAX_NODES + "1]\n"
    assert len(text) < packs.MAX_PACK_BYTES
    r, _ = _preview(teacher_client, text)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "line 6" in html and "more than 50000 values" in html


@pytest.mark.parametrize("escape", ["\\0", "\\ud800"])
def test_text_no_database_can_store_is_refused_and_creates_nothing(teacher_client, db, escape):
    client, token = teacher_client
    text = (
        "pack: p\nquestions:\n  - key: a\n    title: A?\n    kind: multiple_choice\n"
        f'    outcomes: ["ok", "bad{escape}label"]\n    close_at: 2099-01-01T00:00:00Z\n'
    )
    r, _ = _preview(teacher_client, text)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "line 6, field outcomes" in html
    r = client.post("/c/class/packs/load", data={"csrf_token": token, "text": text})
    assert r.status_code == 303
    flashed = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "line 6, field outcomes" in flashed
    with db.session() as s:
        assert s.exec(select(func.count()).select_from(Question)).one() == 0
