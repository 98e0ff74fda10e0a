"""Comments on a question: post, and (moderators) hide or show again."""

from __future__ import annotations

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


def comments_context(question) -> dict:
    """What templates/partials/_comments.html needs, for the question page and htmx swaps."""
    session = get_session()
    uid = current_user.id if current_user.is_authenticated else None
    moderator = access.is_moderator(session, uid, question.competition_id)
    member = access.membership(session, uid, question.competition_id) is not None
    return {
        "question_id": question.id,
        "comments": comments.comments_for(session, question.id, include_hidden=moderator),
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
