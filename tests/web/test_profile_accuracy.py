"""The profile shows the player's Brier history and calibration chart."""

from __future__ import annotations

from datetime import timedelta

from forecast.models import utcnow
from forecast.services import resolution, trading
from forecast.services.questions import outcomes_of


def login(client, user):
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True


def test_profile_accuracy_after_a_resolution(client, db, tx, make_user, make_question):
    admin = make_user("admin")
    alice = make_user("alice")
    login(client, alice)
    assert "No resolved questions yet" in client.get("/profile").get_data(as_text=True)
    t0 = utcnow() + timedelta(days=1)
    q = make_question(title="<b>Bold</b> question?", close_at=t0 + timedelta(hours=4))
    with db.session() as s:
        yes = outcomes_of(s, q.id)[0].id
    for when, p in ((t0, 0.8), (t0 + timedelta(hours=1), 0.6)):
        tx(
            lambda s: trading.trade(
                session=s,
                user_id=alice.id,
                question_id=q.id,
                now=when,
                order=trading.parse_order(outcome_id=yes, to_probability=p),
            )
        )
    tx(
        lambda s: resolution.resolve(
            session=s,
            user_id=admin.id,
            question_id=q.id,
            outcome_id=yes,
            now=t0 + timedelta(hours=5),
        )
    )
    html = client.get("/profile").get_data(as_text=True)
    assert "Mean Brier score <strong>0.260</strong> over 1 resolved question" in html
    assert '<svg class="chart calibration"' in html and "60-70%: 1 of 1 happened" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; question?" in html
