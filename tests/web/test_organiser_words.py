"""Organiser words: the pack preview in human dates and kinds; times as <time> elements
in UTC, labelled, for the viewer's zone to take over."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from forecast.services import competitions
from forecast.web.times import kind_name, when


def test_when_writes_a_labelled_utc_time_element():
    at = datetime(2027, 12, 31, 23, 59, tzinfo=UTC)
    assert str(when(at)) == (
        '<time datetime="2027-12-31T23:59:00+00:00" class="local" data-style="datetime">'
        "31 Dec 2027, 23:59 UTC</time>"
    )
    assert "31 Dec 2027, 23:59 UTC" in when("2027-12-31T23:59:00+00:00")
    assert "23:59:00 UTC" in when(at, style="time")
    assert str(when(None)) == "—"
    assert str(when("<b>soon</b>")) == "&lt;b&gt;soon&lt;/b&gt;"  # not a time: escaped as is


def test_kind_names():
    assert kind_name("binary") == "Yes / no"
    assert kind_name("multiple_choice", ["a", "b", "c"]) == "Multiple choice (3 outcomes)"


def test_pack_preview_in_human_words(web, tx, make_user):
    teacher = make_user("teacher")
    tx(
        lambda s: competitions.create_competition(
            session=s, user_id=teacher.id, name="Class", slug="class", starting_balance="500"
        )
    )
    web.login(teacher)
    token = web.token("/c/class/settings")
    r = web.client.post(
        "/c/class/packs/preview", data={"csrf_token": token, "shipped": "amazon-tiktok"}
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "multiple_choice" not in html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "Multiple choice (6 outcomes)" in html and "Yes / no" in html
    assert not re.search(r"<td>\d{4}-\d\d-\d\dT", html)  # no raw ISO text
    assert re.search(r'<time datetime="20\d\d-[^"]+" class="local"', html)
