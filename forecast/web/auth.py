"""Accounts in the browser: register, log in, log out, change password; the user loader."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from forecast.db import get_session, transaction
from forecast.extensions import limiter, login_manager
from forecast.models import User
from forecast.services import accounts
from forecast.services.errors import DomainError
from forecast.web.forms import LoginForm, LogoutForm, PasswordForm, RegisterForm
from forecast.web.render import is_htmx

bp = Blueprint("auth", __name__)


class CurrentUser:
    """What Flask-Login keeps for a signed-in user (detached from any session)."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.username = user.username
        self.is_admin = user.is_admin
        self.is_active = user.is_active
        self.session_version = user.session_version
        self.is_authenticated = True
        self.is_anonymous = False

    def get_id(self) -> str:
        """ "<id>:<session version>", kept in the session and the remember cookie: once the
        account's version moves on (accounts.end_sessions), neither signs anyone in."""
        return f"{self.id}:{self.session_version}"


@login_manager.user_loader
def _load(user_id: str) -> CurrentUser | None:
    """The account of a session or remember cookie, if it is active and the cookie's
    session version is the account's ("<id>" alone is version 0)."""
    uid, _, version = user_id.partition(":")
    try:
        user = get_session().get(User, int(uid))
        current = user is not None and int(version or 0) == user.session_version
    except (ValueError, OverflowError):
        return None
    return CurrentUser(user) if current and user.is_active else None


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (no open redirects).

    Accepts "/c/x/portfolio?y=1"; refuses "https://evil", "//evil", "/\\evil",
    "javascript:..." and anything with control characters.
    """
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    if target.startswith(("//", "/\\")) or "\\" in target:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _next_or_home(form_next: str | None = None) -> str:
    from forecast.web.joining import landing_url  # the competition used last

    return safe_next(form_next) or safe_next(request.args.get("next")) or landing_url()


def _login_key() -> str:
    """Per address and username: guessing one account's password is slow, but a
    class behind one address can still all log in at once."""
    name = (request.form.get("username") or "").strip().lower()[:40]
    return f"login:{get_remote_address()}:{name}"


def _address_key() -> str:
    return f"address:{get_remote_address()}"


def _limit(name: str):  # noqa: ANN202
    """A limit read from the config when a request comes (FORECAST_RATELIMIT can change it)."""
    return lambda: current_app.config[name]


def _field_error(form, err: DomainError, rename: dict[str, str] | None = None) -> None:
    """Put a service's message next to the field it names (or above the form)."""
    name = (rename or {}).get(err.field or "", err.field)
    field = getattr(form, name, None) if name else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, err.message]
    else:
        form.form_errors.append(err.message)


def _status(form) -> int:
    return 422 if form.errors or form.form_errors else 200


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_limit("RATELIMIT_REGISTER"), key_func=_address_key, methods=["POST"])
def register():
    """Create an account (the first one on a new site is its admin) and log in."""
    if current_user.is_authenticated:
        return redirect(_next_or_home(), 303)
    form = RegisterForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        try:
            user = transaction(
                lambda s: accounts.create_user(
                    session=s, username=form.username.data.strip(), password=form.password.data
                )
            )
        except DomainError as e:
            _field_error(form, e)
        else:
            session.clear()
            login_user(CurrentUser(user))
            flash(f"Welcome, {user.username}! You have joined the public competition.", "success")
            return redirect(_next_or_home(form.next.data), 303)
    elif form.csrf_token.errors:
        form.form_errors.append("The form expired; send it again.")
    return render_template("auth/register.html", form=form), _status(form)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_limit("RATELIMIT_LOGIN"), key_func=_login_key, methods=["POST"])
@limiter.limit(_limit("RATELIMIT_LOGIN_ADDRESS"), key_func=_address_key, methods=["POST"])
def login():
    """Log in with a username and password."""
    if current_user.is_authenticated:
        return redirect(_next_or_home(), 303)
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        user = accounts.authenticate(
            session=get_session(), username=form.username.data.strip(), password=form.password.data
        )
        if user is None:
            form.password.errors = [
                *form.password.errors,
                "That username and password do not match an account.",
            ]
        else:
            session.clear()  # a fresh session: nothing from before the login carries over
            login_user(CurrentUser(user), remember=bool(form.remember.data))
            flash(f"Logged in as {user.username}.", "success")
            return redirect(_next_or_home(form.next.data), 303)
    elif form.csrf_token.errors:
        form.form_errors.append("The form expired; send it again.")
    return render_template("auth/login.html", form=form), _status(form)


@bp.post("/logout")
def logout():
    """Log out (a POST with the CSRF token, so no other site can log you out)."""
    if not LogoutForm().validate_on_submit():
        flash("The logout form expired; try again.", "error")
        return redirect(url_for("home.home"), 303)
    if current_user.is_authenticated:
        transaction(lambda s: accounts.end_sessions(session=s, user_id=current_user.id))
    session.clear()
    logout_user()  # after the clear: it marks the remember cookie to be deleted
    flash("Logged out on every device.", "info")
    return redirect(url_for("home.home"), 303)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    """Change your password (you need the current one); every other session ends."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            user = transaction(
                lambda s: accounts.change_password(
                    session=s,
                    user_id=current_user.id,
                    old=form.old_password.data,
                    new=form.new_password.data,
                )
            )
        except DomainError as e:
            _field_error(form, e, rename={"password": "new_password"})
        else:
            # this session goes on under the new version; a remember cookie is renewed too
            remembered = current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies
            login_user(CurrentUser(user), remember=remembered)
            flash("Your password is changed; you are logged out everywhere else.", "success")
            return redirect(url_for("auth.password"), 303)
    elif form.csrf_token.errors:
        form.form_errors.append("The form expired; send it again.")
    return render_template("auth/password.html", form=form), _status(form)


def _unauthorized():
    """Anonymous on a members' page: back to it after logging in.

    htmx requests get an HX-Redirect, so the login page replaces the whole
    page rather than landing inside a panel.
    """
    target: str | None = request.full_path if request.query_string else request.path
    if request.method != "GET":  # back to the page the form was on, not to a POST-only URL
        target = urlsplit(request.referrer).path if request.referrer else None
    url = url_for("auth.login", next=safe_next(target))
    if is_htmx():
        response = current_app.response_class(status=401)
        response.headers["HX-Redirect"] = url
        return response
    if request.path.startswith("/api/"):
        from forecast.web.errors import error_response

        return error_response(401, "unauthorized", "Log in or send an API token.")
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(url)


def init_app(app: Flask) -> None:
    login_manager.unauthorized_handler(_unauthorized)
