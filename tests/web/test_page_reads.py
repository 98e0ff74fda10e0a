"""What a page asks the database for: no row is read twice in one view."""

from __future__ import annotations

from sqlalchemy import event

import forecast.db


def _statements(app, monkeypatch) -> list[str]:
    """Every statement from now on: SQLAlchemy's, and those db.Prepared runs on the cursor."""
    seen: list[str] = []
    engine = app.extensions["forecast_db"].engine

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        seen.append(" ".join(statement.split()))

    run = forecast.db._Compiled.run

    def record_prepared(self, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.append(" ".join(self.sql.split()))
        return run(self, *args, **kwargs)

    monkeypatch.setattr(forecast.db._Compiled, "run", record_prepared)
    return seen


def test_a_question_page_reads_its_question_and_competition_once(app, make_question, monkeypatch):
    """With its outcomes, in one statement (questions.viewable_with_outcomes)."""
    q = make_question()
    client = app.test_client()
    assert client.get(f"/questions/{q.id}").status_code == 200
    seen = _statements(app, monkeypatch)
    assert client.get(f"/questions/{q.id}").status_code == 200
    competition_reads = [s for s in seen if "FROM competition" in s or "JOIN competition" in s]
    assert len(competition_reads) == 1, competition_reads  # with the question, not again by id
    assert "FROM question JOIN competition" in competition_reads[0]
    assert "LEFT OUTER JOIN outcome" in competition_reads[0]
    assert not [s for s in seen if "FROM outcome" in s], seen  # the outcomes came with it
    assert len([s for s in seen if "FROM question" in s]) == 1, seen  # and nothing again by id
    assert len(seen) == 2, seen  # and the comments: the chart and trades are drawn already


def test_the_api_question_reads_its_competition_once(app, make_question, monkeypatch):
    q = make_question()
    client = app.test_client()
    seen = _statements(app, monkeypatch)
    assert client.get(f"/api/v1/questions/{q.id}").status_code == 200
    competition_reads = [s for s in seen if "FROM competition" in s or "JOIN competition" in s]
    assert len(competition_reads) == 1, competition_reads
