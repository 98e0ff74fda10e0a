"""Comments on a question: post, and (moderators) hide or show again."""

from __future__ import annotations

import time
from collections import OrderedDict

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from forecast.db import get_session, transaction
from forecast.extensions import limiter, user_key
from forecast.services import access, comments
from forecast.services.errors import DomainError
from forecast.web.competition_forms import CommentForm, ConfirmForm

bp = Blueprint("comments", __name__)


# Each question's comments as read (with the hidden ones for moderators), by database,
# question and who may see hidden ones, with the question's comments_version and
# trade_count (the commenters' positions) then, and when: read again when the version
# moves, or the trade count when there are comments (a question without any has no
# positions to show), or after COMMENTS_MAX_AGE (what a writer that kept no version
# did, a server of an older release say, shows within that).  Lists of more than
# COMMENTS_KEEP_CHARS are not kept: the last COMMENTS_KEPT used take at most about 5 MB.
_COMMENTS: OrderedDict[tuple, tuple] = OrderedDict()
COMMENTS_KEPT = 256
COMMENTS_KEEP_CHARS = 20_000
COMMENTS_MAX_AGE = 60.0  # seconds


def _comments(session, question, moderator: bool) -> list[comments.CommentView]:
    key = (str(session.get_bind().url), question.id, question.created_at, moderator)
    version, count, now = question.comments_version, question.trade_count, time.monotonic()
    hit = _COMMENTS.get(key)
    if (
        hit is not None
        and hit[0] == version
        and (not hit[3] or hit[1] == count)
        and now - hit[2] < COMMENTS_MAX_AGE
    ):
        _COMMENTS.move_to_end(key)
        return hit[3]
    read = comments.comments_for(session, question.id, include_hidden=moderator)
    if sum(len(c.body) for c in read) > COMMENTS_KEEP_CHARS:
        _COMMENTS.pop(key, None)
        return read
    _COMMENTS[key] = (version, count, now, read)
    _COMMENTS.move_to_end(key)
    while len(_COMMENTS) > COMMENTS_KEPT:
        _COMMENTS.popitem(last=False)
    return read


def comments_context(question) -> dict:
    """What templates/partials/_comments.html needs, for the question page and htmx swaps."""
    session = get_session()
    uid = current_user.id if current_user.is_authenticated else None
    moderator = access.is_moderator(session, uid, question.competition_id)
    member = access.membership(session, uid, question.competition_id) is not None
    return {
        "question_id": question.id,
        "comments": _comments(session, question, moderator),
        # Forms (and their CSRF tokens) only for those who will see them.
        "comment_form": CommentForm(formdata=None) if member else None,
        "comment_moderator": moderator,
        "comment_member": member,
        "comment_confirm": ConfirmForm(formdata=None) if moderator else None,
    }


def _back(question_id: int):
    if request.headers.get("HX-Request"):
        question = access.viewable_question(get_session(), current_user.id, question_id)
        return render_template("partials/_comments.html", **comments_context(question))
    return redirect(url_for("questions.question", question_id=question_id) + "#comments", 303)


@bp.post("/questions/<int:question_id>/comments")
@limiter.limit(lambda: current_app.config["RATELIMIT_COMMENT"], key_func=user_key)
@login_required
def post(question_id: int):
    """Add a comment to the question."""
    access.viewable_question(get_session(), current_user.id, question_id)
    form = CommentForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        flash(" ".join(form.body.errors) or "Write something first.", "error")
        return _back(question_id)
    try:
        transaction(
            lambda s: comments.add_comment(
                session=s, user_id=current_user.id, question_id=question_id, body=form.body.data
            )
        )
    except DomainError as e:
        if e.status in (403, 404):
            raise
        flash(e.message, "error")
    return _back(question_id)


@bp.post("/comments/<int:comment_id>/hide")
@login_required
def hide(comment_id: int):
    """Hide a comment (moderators)."""
    return _set_hidden(comment_id, True)


@bp.post("/comments/<int:comment_id>/show")
@login_required
def show(comment_id: int):
    """Show a hidden comment again (moderators)."""
    return _set_hidden(comment_id, False)


def _set_hidden(comment_id: int, hidden: bool):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        comment = transaction(
            lambda s: comments.set_hidden(
                session=s, user_id=current_user.id, comment_id=comment_id, hidden=hidden
            )
        )
    except DomainError as e:
        if e.status != 409:
            raise
        flash(e.message, "info")
        from forecast.models import Comment

        comment = get_session().get(Comment, comment_id)
    return _back(comment.question_id)
