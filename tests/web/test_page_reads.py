"""What a page asks the database for: no row is read twice in one view."""

from __future__ import annotations

from sqlalchemy import event


def _statements(app) -> list[str]:
    seen: list[str] = []
    engine = app.extensions["forecast_db"].engine

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        seen.append(" ".join(statement.split()))

    return seen


def test_a_question_page_reads_its_question_and_competition_once(app, make_question):
    q = make_question()
    client = app.test_client()
    assert client.get(f"/questions/{q.id}").status_code == 200
    seen = _statements(app)
    assert client.get(f"/questions/{q.id}").status_code == 200
    competition_reads = [s for s in seen if "FROM competition" in s or "JOIN competition" in s]
    assert len(competition_reads) == 1, competition_reads  # with the question, not again by id
    assert "FROM question JOIN competition" in competition_reads[0]


def test_the_api_question_reads_its_competition_once(app, make_question):
    q = make_question()
    client = app.test_client()
    seen = _statements(app)
    assert client.get(f"/api/v1/questions/{q.id}").status_code == 200
    competition_reads = [s for s in seen if "FROM competition" in s or "JOIN competition" in s]
    assert len(competition_reads) == 1, competition_reads
