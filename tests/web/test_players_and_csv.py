"""A player's page in a competition (resolved questions, Brier, calibration; open
positions stay private), names on the leaderboard link to it, and the leaderboard's CSV
link for moderators with a file name of the competition and the day."""

from __future__ import annotations

from forecast.models import utcnow
from forecast.services import competitions, resolution


def _class(tx, owner, *, listed=True):
    return tx(
        lambda s: competitions.create_competition(
            session=s,
            user_id=owner.id,
            name="Class 7B",
            slug="class-7b",
            starting_balance="500",
            is_listed=listed,
        )
    )


def test_a_players_page_shows_what_is_settled_and_hides_open_positions(
    web, tx, make_user, make_question, buy
):
    teacher, ann = make_user("teacher"), make_user("ann")
    comp = _class(tx, teacher)
    tx(lambda s: competitions.join(session=s, user_id=ann.id, slug="class-7b", code=comp.join_code))
    done = make_question(competition=comp, title="Settled one?")
    still_open = make_question(competition=comp, title="Secret bet?")
    yes = web.outcomes(done)[0]
    buy(ann, done, yes, spend=40)
    buy(ann, still_open, web.outcomes(still_open)[1], spend=25)
    tx(
        lambda s: resolution.resolve(
            session=s, user_id=teacher.id, question_id=done.id, outcome_id=yes
        )
    )

    board = web.client.get("/c/class-7b/leaderboard").get_data(as_text=True)
    assert 'href="/c/class-7b/players/ann">ann</a>' in board
    r = web.client.get("/c/class-7b/players/ann")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Settled one?" in html and "Mean Brier score" in html and "Calibration of ann" in html
    assert "Secret bet?" not in html  # an open position stays private
    assert "Rank <strong>" in html
    for missing in ("nobody", "teacher2", "%00"):
        assert web.client.get(f"/c/class-7b/players/{missing}").status_code == 404
    make_user("stranger")
    assert web.client.get("/c/class-7b/players/stranger").status_code == 404  # not a member


def test_a_private_competitions_player_pages_need_a_member(web, tx, make_user):
    teacher, outsider = make_user("teacher"), make_user("outsider")
    _class(tx, teacher, listed=False)
    assert web.client.get("/c/class-7b/players/teacher").status_code == 404
    web.login(outsider)
    assert web.client.get("/c/class-7b/players/teacher").status_code == 404
    web.login(teacher)
    assert web.client.get("/c/class-7b/players/teacher").status_code == 200


def test_the_csv_link_is_for_moderators_and_names_the_file(web, tx, make_user):
    teacher, ann = make_user("teacher"), make_user("ann")
    comp = _class(tx, teacher)
    tx(lambda s: competitions.join(session=s, user_id=ann.id, slug="class-7b", code=comp.join_code))
    web.login(ann)
    assert "leaderboard.csv" not in web.client.get("/c/class-7b/leaderboard").get_data(as_text=True)
    web.login(teacher)
    html = web.client.get("/c/class-7b/leaderboard?by=brier").get_data(as_text=True)
    assert 'href="/c/class-7b/leaderboard.csv?by=brier"' in html
    r = web.client.get("/c/class-7b/leaderboard.csv")
    day = utcnow().strftime("%Y-%m-%d")
    assert r.headers["Content-Disposition"] == (
        f'attachment; filename="class-7b-leaderboard-{day}.csv"'
    )
    r = web.client.get("/c/class-7b/leaderboard.csv?by=brier")
    assert f'filename="class-7b-leaderboard-brier-{day}.csv"' in r.headers["Content-Disposition"]
