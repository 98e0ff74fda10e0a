"""The profile page: who you are, your wallets, and your API tokens."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlmodel import select
from wtforms import StringField
from wtforms.validators import Length, Optional

from forecast.db import get_session, transaction
from forecast.market.scoring import calibration
from forecast.models import ApiToken, Competition, Membership, User
from forecast.services import accounts, accuracy, standings
from forecast.services.errors import DomainError
from forecast.web.calibration import calibration_svg

bp = Blueprint("profile", __name__)


class TokenForm(FlaskForm):
    name = StringField(
        "Token name",
        validators=[Optional(), Length(max=80, message="At most 80 characters.")],
        description="Something to tell your tokens apart, like 'my bot'.",
    )


def _render(form: TokenForm, new_token: str | None = None, status: int = 200):
    session = get_session()
    user = session.get(User, current_user.id)
    memberships = [
        {
            "competition": comp,
            "role": m.role,
            "balance": m.balance,
            "net_worth": standings.member_net_worth(session, m),
        }
        for m, comp in session.exec(
            select(Membership, Competition)
            .join(Competition, Competition.id == Membership.competition_id)
            .where(Membership.user_id == current_user.id)
            .order_by(Competition.name)
        )
    ]
    # Accuracy is the player's, across every competition they forecast in.
    history, pairs = [], []
    for m, comp in session.exec(
        select(Membership, Competition)
        .join(Competition, Competition.id == Membership.competition_id)
        .where(Membership.user_id == current_user.id)
    ):
        history += [(h, comp) for h in accuracy.brier_history(session, m)]
        pairs += accuracy.calibration_pairs(session, m)
    history.sort(key=lambda pair: (pair[0].resolved_at is None, pair[0].resolved_at))
    buckets = calibration(pairs)
    tokens = list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.user_id == current_user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )
    return render_template(
        "profile/index.html",
        user=user,
        memberships=memberships,
        tokens=tokens,
        form=form,
        new_token=new_token,
        brier_history=history,
        mean_brier=accuracy.mean_brier([h for h, _ in history]),
        buckets=buckets,
        calibration_chart=calibration_svg(buckets, title=f"Calibration of {user.username}"),
    ), status


@bp.get("/profile")
@login_required
def index():
    """Show the profile: account, memberships with balances, API tokens."""
    return _render(TokenForm())


@bp.post("/profile/tokens")
@login_required
def create_token():
    """Create an API token and show it once (only its hash is kept)."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _render(form, status=422)
    name = (form.name.data or "").strip()
    try:
        _, plain = transaction(
            lambda s: accounts.create_token(session=s, user_id=current_user.id, name=name)
        )
    except DomainError as e:
        form.name.errors = [*form.name.errors, e.message]
        return _render(form, status=422)
    # Rendered into this answer only: never into the session cookie or a flash message.
    return _render(TokenForm(formdata=None), new_token=plain, status=201)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of my tokens; bots using it get 401 from now on (CSRFProtect checks the form)."""
    transaction(
        lambda s: accounts.revoke_token(session=s, user_id=current_user.id, token_id=token_id)
    )
    flash("Token revoked. Anything still using it now gets 401.", "success")
    return redirect(url_for("profile.index"), 303)
