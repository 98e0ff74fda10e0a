"""The organiser's roster: members with their standing, removing a player, marking a
non-playing organiser, one-time password reset links; and the page a reset link opens."""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo

from forecast.db import get_session, transaction
from forecast.services import access, resets, roster
from forecast.services.competitions import PUBLIC_SLUG
from forecast.services.errors import DomainError
from forecast.web.competition_forms import ConfirmForm

bp = Blueprint("roster", __name__)


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[DataRequired(message="Choose a new password.")],
        description="At least 8 characters.",
    )
    confirm = PasswordField(
        "New password again",
        validators=[
            DataRequired(message="Type the password again."),
            EqualTo("password", message="The two passwords are not the same."),
        ],
    )


def _moderated(slug: str):
    session = get_session()
    comp = access.get_competition(session, slug)
    access.require_view(session, current_user.id, comp)
    access.require_moderator(session, current_user.id, comp.id)
    return comp


@bp.get("/c/<slug>/roster")
@login_required
def index(slug: str):
    """Organisers: every member with balance, net worth, trades and last activity."""
    comp = _moderated(slug)
    rows = roster.roster(session=get_session(), user_id=current_user.id, competition=comp)
    view_link = None
    if comp.view_token:
        view_link = url_for("live.view", slug=comp.slug, t=comp.view_token, _external=True)
    return render_template(
        "roster/index.html",
        competition=comp,
        rows=rows,
        confirm=ConfirmForm(),
        me=current_user.id,
        is_admin=current_user.is_admin,
        owner=access.membership(get_session(), current_user.id, comp.id),
        view_link=view_link,
        public=comp.slug == PUBLIC_SLUG,
    )


def _act(slug: str, action, done: str):
    """Run a roster action from a button (a POST with its CSRF token) and go back."""
    comp = _moderated(slug)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        transaction(lambda s: action(s, comp))
    except DomainError as e:
        if e.status in (403, 404):
            raise
        flash(e.message, "error")
    else:
        flash(done, "success")
    return redirect(url_for("roster.index", slug=slug), 303)


def _set_removed(slug: str, membership_id: int, removed: bool, done: str):
    return _act(
        slug,
        lambda s, comp: roster.set_removed(
            session=s,
            user_id=current_user.id,
            competition=comp,
            membership_id=membership_id,
            removed=removed,
        ),
        done,
    )


@bp.post("/c/<slug>/roster/<int:membership_id>/remove")
@login_required
def remove(slug: str, membership_id: int):
    """Remove a member: their trades stay; they leave the ranking and stop trading."""
    done = "Removed. Their trades stay; they are off the leaderboard and can no longer trade."
    return _set_removed(slug, membership_id, True, done)


@bp.post("/c/<slug>/roster/<int:membership_id>/restore")
@login_required
def restore(slug: str, membership_id: int):
    """Bring a removed member back into the game."""
    return _set_removed(slug, membership_id, False, "Back in the game.")


@bp.post("/c/<slug>/roster/<int:membership_id>/plays/<int:plays>")
@login_required
def plays(slug: str, membership_id: int, plays: int):
    """Mark a member as playing (1) or as a non-playing organiser (0)."""
    if plays not in (0, 1):
        abort(404)
    return _act(
        slug,
        lambda s, comp: roster.set_plays(
            session=s,
            user_id=current_user.id,
            competition=comp,
            membership_id=membership_id,
            plays=bool(plays),
        ),
        "Playing: on the leaderboard." if plays else "Not playing: off the leaderboard.",
    )


@bp.post("/c/<slug>/roster/<int:membership_id>/reset")
@login_required
def reset_link(slug: str, membership_id: int):
    """Make a one-time password reset link for a member and show it once."""
    comp = _moderated(slug)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        target, plain = transaction(
            lambda s: resets.create_link(
                session=s, user_id=current_user.id, competition=comp, membership_id=membership_id
            )
        )
    except DomainError as e:
        if e.status in (403, 404):
            raise
        flash(e.message, "error")
        return redirect(url_for("roster.index", slug=slug), 303)
    response = make_response(
        render_template(
            "roster/reset_link.html",
            competition=comp,
            username=target.username,
            link=url_for("roster.use_reset", token=plain, _external=True),
            hours=int(resets.LIFETIME.total_seconds() // 3600),
        )
    )
    response.headers["Cache-Control"] = "no-store"  # the link shows once
    return response


@bp.route("/reset/<token>", methods=["GET", "POST"])
def use_reset(token: str):
    """Choose a new password through a one-time link from an organiser."""
    session = get_session()
    try:
        user = resets.link_user(session=session, token=token)
    except DomainError as e:
        return render_template("roster/reset_password.html", error=e.message, form=None), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            transaction(
                lambda s: resets.use_link(session=s, token=token, password=form.password.data)
            )
        except DomainError as e:
            if e.status == 404:
                return render_template(
                    "roster/reset_password.html", error=e.message, form=None
                ), 404
            form.password.errors = [*form.password.errors, e.message]
        else:
            if current_user.is_authenticated:
                logout_user()
            flash(f"The password of {user.username} is set. Log in with it.", "success")
            return redirect(url_for("auth.login"), 303)
    status = 422 if form.errors else 200
    response = make_response(
        render_template("roster/reset_password.html", form=form, username=user.username), status
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the link stays out of other logs
    return response
