"""Joining by link in one step: a visitor without an account (or logged out) creates one
or logs in on the join page itself, and lands in the competition."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user
from wtforms import HiddenField, StringField

from forecast.db import get_session, transaction
from forecast.market.money import fmt
from forecast.models import Competition
from forecast.services import accounts, competitions, roster
from forecast.services.competitions import PUBLIC_SLUG
from forecast.services.errors import DomainError
from forecast.web.forms import CredentialsForm, NewAccountForm


class NewAccountJoinForm(NewAccountForm):
    account = HiddenField(default="new")
    code = StringField("Join code")


class LoginJoinForm(CredentialsForm):
    account = HiddenField(default="existing")
    code = StringField("Join code")


def login_key() -> str:
    """The join page's logins count with the login page's: per address and username."""
    name = (request.form.get("existing-username") or "").strip().lower()[:40]
    return f"login:{get_remote_address()}:{name}"


def login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def _field_error(form, err: DomainError) -> None:
    field = getattr(form, err.field, None) if err.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, err.message]
    else:
        form.form_errors.append(err.message)


def _log_in(user) -> None:
    from forecast.web.auth import CurrentUser

    session.clear()  # a fresh session: nothing from before the login carries over
    login_user(CurrentUser(user))


def visitor_join(comp: Competition):
    """The join page for a visitor who is not logged in: two forms, each of which logs in
    (a new account or an existing one) and joins in one transaction of the join."""
    slug = comp.slug
    new = NewAccountJoinForm(prefix="new")
    existing = LoginJoinForm(prefix="existing")
    link_code = request.args.get("code") or ""
    if request.method == "GET":
        new.code.data = existing.code.data = link_code
    which = request.form.get("new-account") or request.form.get("existing-account")
    if which == "new" and new.validate_on_submit():

        def register_and_join(s):
            user = accounts.create_user(
                session=s, username=new.username.data.strip(), password=new.password.data
            )
            competitions.join(session=s, user_id=user.id, slug=slug, code=new.code.data or "")
            return user

        try:
            user = transaction(register_and_join)
        except DomainError as e:
            _field_error(new, e)
        else:
            _log_in(user)
            return _joined(comp, f"Welcome, {user.username}! ")
    elif which == "existing" and existing.validate_on_submit():
        user = accounts.authenticate(
            session=get_session(),
            username=existing.username.data.strip(),
            password=existing.password.data,
        )
        if user is None:
            existing.password.errors = [
                *existing.password.errors,
                "That username and password do not match an account.",
            ]
        else:
            try:
                transaction(
                    lambda s: competitions.join(
                        session=s, user_id=user.id, slug=slug, code=existing.code.data or ""
                    )
                )
            except DomainError as e:
                _field_error(existing, e)
            else:
                _log_in(user)
                return _joined(comp, f"Logged in as {user.username}. ")
    for form in (new, existing):
        if form.csrf_token.errors:
            form.form_errors.append("The form expired; send it again.")
    # The name shows only to someone holding a link or code to it.
    shown = comp if comp.is_listed or link_code or request.method == "POST" else None
    # A POST that got here logged nobody in: it is refused, whatever it lacked.
    failed = request.method == "POST" or any(f.errors or f.form_errors for f in (new, existing))
    return render_template(
        "competitions/join_visitor.html",
        comp=shown,
        slug=slug,
        new=new,
        existing=existing,
        code_in_link=bool(link_code) or request.form.get("code_in_link") == "1",
        public=slug == PUBLIC_SLUG,
        starting=fmt(comp.starting_balance),
    ), (422 if failed else 200)


def _joined(comp: Competition, greeting: str):
    flash(f"{greeting}You joined {comp.name} with {fmt(comp.starting_balance)} points.", "success")
    if comp.slug == PUBLIC_SLUG:
        return redirect(url_for("home.home"), 303)
    return redirect(url_for("home.competition_home", slug=comp.slug), 303)


def landing_url() -> str:
    """Where a player lands after logging in with nowhere else to go: the competition
    they used last (roster.last_used), else the front page."""
    comp = None
    if current_user.is_authenticated:
        comp = roster.last_used(competitions.member_competitions(get_session(), current_user.id))
    if comp is None or comp.slug == PUBLIC_SLUG:
        return url_for("home.home")
    return url_for("home.competition_home", slug=comp.slug)


def last_used_competition(rows: list) -> Competition | None:
    """For the layout: the competition to show as "where you are" on a page of none."""
    return roster.last_used(rows)


def init_app(app) -> None:  # noqa: ANN001
    app.add_template_global(last_used_competition)
