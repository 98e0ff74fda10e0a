"""Site admin pages: users."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from forecast.db import get_session, transaction
from forecast.services import admin
from forecast.services.errors import DomainError
from forecast.web.competition_forms import ConfirmForm

bp = Blueprint("admin", __name__, url_prefix="/admin")

ACTIONS = {
    "make_admin": {"is_admin": True},
    "remove_admin": {"is_admin": False},
    "disable": {"is_active": False},
    "enable": {"is_active": True},
}


@bp.get("/users")
@login_required
def users():
    """List every account with its flags (site admins)."""
    rows = admin.list_users(session=get_session(), user_id=current_user.id)
    return render_template("admin/users.html", users=rows, confirm=ConfirmForm())


@bp.post("/users/<int:user_id>")
@login_required
def update(user_id: int):
    """Make admin, remove admin, disable or enable an account (site admins)."""
    flags = ACTIONS.get(request.form.get("action", ""))
    if not ConfirmForm().validate_on_submit() or flags is None:
        abort(400)
    try:
        transaction(
            lambda s: admin.set_user_flags(
                session=s, user_id=current_user.id, target_id=user_id, **flags
            )
        )
    except DomainError as e:
        if e.status in (403, 404):
            raise
        flash(e.message, "error")
    else:
        flash("Saved.", "success")
    return redirect(url_for("admin.users"), 303)
