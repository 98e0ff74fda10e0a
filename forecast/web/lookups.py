"""What the player pages look up for a view: the signed-in user, a competition or question
the viewer may see (403/404 otherwise), their membership, and a page number."""

from __future__ import annotations

from flask import current_app, request, url_for
from flask_login import current_user

from forecast.db import get_session
from forecast.models import Competition, Membership, Question
from forecast.services import access


def uid() -> int | None:
    """The signed-in user's id, or None for a visitor."""
    return current_user.id if current_user.is_authenticated else None


def viewable_competition(slug: str) -> Competition:
    """The competition ``slug`` if the viewer may see it (private ones: members only)."""
    session = get_session()
    comp = access.read_competition(session, slug)  # shown, never changed
    access.require_view(session, uid(), comp)
    return comp


def viewable_question(question_id: int) -> tuple[Question, Competition]:
    """The question and its competition, if the viewer may see them."""
    return access.viewable_question_and_competition(get_session(), uid(), question_id)


def membership(comp: Competition) -> Membership | None:
    """The signed-in user's membership of ``comp``, or None."""
    return access.membership(get_session(), uid(), comp.id)


def optional_url(endpoint: str, fallback: str, **values) -> str:
    """Link to another engineer's page by endpoint when it exists, else by its path."""
    if endpoint in current_app.view_functions:
        return url_for(endpoint, **values)
    return request.script_root + fallback


def join_url(comp: Competition) -> str:
    return optional_url("competitions.join", f"/c/{comp.slug}/join", slug=comp.slug)


def page_of(count: int, size: int) -> tuple[int, int]:
    """(the page asked for in ?page=, brought within range; how many pages) for ``count`` rows."""
    pages = max(1, -(-count // size))
    return min(max(request.args.get("page", 1, type=int) or 1, 1), pages), pages
