"""The README's ten-line bot runs against a served site and trades once however often it runs."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import timedelta
from pathlib import Path

import requests
from served import headers

from forecast.models import utcnow

README = Path(__file__).resolve().parents[2] / "README.md"


def bot_source() -> str:
    text = README.read_text()
    section = text.split("## Bots and the JSON API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_bot_trades_once(site):
    source = bot_source()
    assert len(source.strip().splitlines()) <= 12
    r = requests.post(
        site.url("/competitions/public/questions"),
        json={
            "title": "Cheap YES?",
            "close_at": (utcnow() + timedelta(days=3)).isoformat(),
            "liquidity": 1000,
            "initial_probabilities": [0.2, 0.8],
        },
        headers=headers(site.admin_token),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    cheap = r.json()
    token = site.quick_user("readme-bot")
    source = source.replace("http://127.0.0.1:5000/api/v1", site.url("")).replace(
        "fc_your_token_here", token
    )
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(source, "README bot", "exec"), {})  # noqa: S102 -- our own README
        outputs.append(out.getvalue())
    assert "Cheap YES? 201" in outputs[0] and "Cheap YES? 201" in outputs[1]
    history = requests.get(site.url(f"/questions/{cheap['id']}/history"), timeout=30).json()
    assert len(history) == 2  # the opening and one trade: the second run replayed the first
    me = requests.get(site.url("/me"), headers=headers(token), timeout=30).json()
    assert me["memberships"][0]["balance"] < 1000.0
