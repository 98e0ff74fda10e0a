"""Competition pages: list, create, join, settings (code, moderators, close), packs, CSV export."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlmodel import select

from forecast.db import get_session, transaction
from forecast.extensions import limiter
from forecast.market.money import fmt, typed_amount
from forecast.models import Competition, Membership, Question, User, utcnow
from forecast.services import access, competitions, exports, packs
from forecast.services.errors import DomainError
from forecast.web import confirm, joining
from forecast.web.competition_forms import (
    ConfirmForm,
    CreateCompetitionForm,
    JoinForm,
    PackConfirmForm,
    PackUploadForm,
    RoleForm,
)
from forecast.web.live import qr_svg

bp = Blueprint("competitions", __name__)


def _uid() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def _field_error(form, err: DomainError) -> None:
    """Put a service's error next to its field (or on the form when it names none)."""
    field = getattr(form, err.field, None) if err.field else None
    if field is not None:
        field.errors = [*field.errors, err.message]
    else:
        form.form_errors.append(err.message)


def _competition(slug: str) -> Competition:
    session = get_session()
    comp = access.get_competition(session, slug)
    access.require_view(session, _uid(), comp)
    return comp


def _moderated(slug: str) -> Competition:
    comp = _competition(slug)
    access.require_moderator(get_session(), current_user.id, comp.id)
    return comp


@bp.get("/competitions")
def index():
    """List my competitions and the listed ones; forms to create and join."""
    session = get_session()
    mine = (
        competitions.member_competitions(session, current_user.id)
        if current_user.is_authenticated
        else []
    )
    mine_ids = {c.id for c, _ in mine}
    listed = [
        c
        for c in session.exec(select(Competition).where(Competition.is_listed == True))  # noqa: E712
        if c.id not in mine_ids
    ]
    return render_template(
        "competitions/index.html", mine=mine, listed=listed, fmt=fmt, form=JoinForm()
    )


@bp.route("/competitions/new", methods=["GET", "POST"])
@login_required
def create():
    """Create a competition; the creator becomes its owner."""
    form = CreateCompetitionForm()
    if form.validate_on_submit():
        end_at = form.end_at.data.replace(tzinfo=UTC) if form.end_at.data else None
        try:
            comp = transaction(
                lambda s: competitions.create_competition(
                    session=s,
                    user_id=current_user.id,
                    name=form.name.data,
                    slug=(form.slug.data or "").strip(),
                    starting_balance=typed_amount(form.starting_balance.data or ""),
                    is_listed=form.is_listed.data,
                    end_at=end_at,
                )
            )
        except DomainError as e:
            _field_error(form, e)
        else:
            flash(
                f"Created {comp.name}. Share the join code {comp.join_code} with your players.",
                "success",
            )
            return redirect(url_for("competitions.settings", slug=comp.slug), 303)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("competitions/new.html", form=form), status


@bp.route("/c/<slug>/join", methods=["GET", "POST"])
@limiter.limit(
    joining.login_limit,
    key_func=joining.login_key,
    methods=["POST"],
    exempt_when=lambda: current_user.is_authenticated,
)
def join(slug: str):
    """Join a competition with its code (a join link fills the code in); a visitor
    creates an account or logs in on the same page (web.joining)."""
    session = get_session()
    comp = access.get_competition(session, slug)  # a code holder may join a private one
    if not current_user.is_authenticated:
        return joining.visitor_join(comp)
    if access.membership(session, current_user.id, comp.id) is not None:
        return redirect(url_for("home.competition_home", slug=slug), 303)
    form = JoinForm()
    if request.method == "GET" and request.args.get("code"):
        form.code.data = request.args["code"]
    if form.validate_on_submit():
        try:
            transaction(
                lambda s: competitions.join(
                    session=s, user_id=current_user.id, slug=slug, code=form.code.data
                )
            )
        except DomainError as e:
            _field_error(form, e)
        else:
            flash(f"You joined {comp.name} with {fmt(comp.starting_balance)} points.", "success")
            return redirect(url_for("home.competition_home", slug=slug), 303)
    # The name shows only to someone holding a link or code to it.
    shown = comp if comp.is_listed or request.args.get("code") or request.method == "POST" else None
    status = 422 if form.errors or form.form_errors else 200
    return render_template("competitions/join.html", form=form, comp=shown, slug=slug), status


@bp.get("/c/<slug>/settings")
@login_required
def settings(slug: str):
    """Moderators: the join code and link, moderators, packs, export, closing."""
    comp = _moderated(slug)
    session = get_session()
    members = list(
        session.exec(
            select(Membership, User.username)
            .join(User, User.id == Membership.user_id)
            .where(Membership.competition_id == comp.id)
            .order_by(Membership.role.desc(), User.username)
        )
    )
    is_owner = current_user.is_admin or any(
        m.user_id == current_user.id and m.role == "owner" for m, _ in members
    )
    join_link = url_for("competitions.join", slug=comp.slug, code=comp.join_code, _external=True)
    return render_template(
        "competitions/settings.html",
        comp=comp,
        members=members,
        is_owner=is_owner,
        join_link=join_link,
        join_qr=qr_svg(join_link, f"QR code to join {comp.name}"),
        role_form=RoleForm(),
        confirm=ConfirmForm(),
        pack_form=PackUploadForm(),
        fmt=fmt,
    )


@bp.post("/c/<slug>/code")
@login_required
def rotate_code(slug: str):
    """Give the competition a new join code (the old one stops working)."""
    _competition(slug)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    code = transaction(
        lambda s: competitions.rotate_code(session=s, user_id=current_user.id, slug=slug)
    )
    flash(f"The new join code is {code}.", "success")
    return redirect(url_for("competitions.settings", slug=slug), 303)


@bp.post("/c/<slug>/roles")
@login_required
def set_role(slug: str):
    """Appoint a moderator (or make one a player again); owners only."""
    _competition(slug)
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Give a username and a role.", "error")
        return redirect(url_for("competitions.settings", slug=slug), 303)
    try:
        transaction(
            lambda s: competitions.set_role(
                session=s,
                user_id=current_user.id,
                slug=slug,
                username=form.username.data.strip(),
                role=form.role.data,
            )
        )
    except DomainError as e:
        if e.status == 403:
            raise
        flash(e.message, "error")
    else:
        flash(f"{form.username.data} is now a {form.role.data}.", "success")
    return redirect(url_for("competitions.settings", slug=slug), 303)


@bp.post("/c/<slug>/close")
@login_required
def close(slug: str):
    """End the competition: no more trading, the leaderboard is final (after a
    confirmation step)."""
    comp = _competition(slug)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if (
        not confirm.confirmed()
        and comp.slug != competitions.PUBLIC_SLUG
        and competitions.effective_status(comp) == "open"
    ):
        return _confirm_close(_moderated(slug))
    try:
        transaction(
            lambda s: competitions.close_competition(session=s, user_id=current_user.id, slug=slug)
        )
    except DomainError as e:
        if e.status == 403:
            raise
        flash(e.message, "error")
    else:
        flash("The competition is closed; its leaderboard is final.", "success")
    return redirect(url_for("competitions.settings", slug=slug), 303)


def _confirm_close(comp: Competition):
    return confirm.page(
        title=f"Close {comp.name}?",
        consequences=[
            f"Trading stops in every question of {comp.name}, for all {comp.member_count} members.",
            "The leaderboard is frozen: these are the final standings.",
            "Nobody can join any more.",
            "This cannot be undone.",
        ],
        action=url_for("competitions.close", slug=comp.slug),
        button=f"Close {comp.name} for good",
        back=url_for("competitions.settings", slug=comp.slug),
        competition=comp,
    )


@bp.get("/c/<slug>/leaderboard.csv")
@login_required
def leaderboard_csv(slug: str):
    """Download the leaderboard as CSV for grading (moderators)."""
    comp = _competition(slug)
    by = "brier" if request.args.get("by") == "brier" else "net_worth"
    text = exports.leaderboard_csv(
        session=get_session(), user_id=current_user.id, competition=comp, by=by
    )
    # Named by competition, ranking and day: two competitions' exports never clash.
    name = f"{comp.slug}-leaderboard{'-brier' if by == 'brier' else ''}-{utcnow():%Y-%m-%d}.csv"
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/c/<slug>/pack.yaml")
@login_required
def export_pack(slug: str):
    """Download the competition's questions as a pack file (moderators)."""
    comp = _moderated(slug)
    return Response(
        packs.export(session=get_session(), competition=comp),
        mimetype="application/x-yaml",
        headers={"Content-Disposition": f'attachment; filename="{comp.slug}-pack.yaml"'},
    )


@bp.post("/c/<slug>/packs/preview")
@login_required
def pack_preview(slug: str):
    """Check an uploaded (or shipped) pack and show what it would create."""
    comp = _moderated(slug)
    form = PackUploadForm()
    if not form.validate_on_submit():
        abort(400)
    if form.shipped.data == "amazon-tiktok":
        text = packs.seed_text()
    elif form.file.data:
        raw = form.file.data.read(packs.MAX_PACK_BYTES + 1)
        try:  # a file cut at the limit may end inside a character: parse says it is too large
            text = raw.decode("utf-8", "replace" if len(raw) > packs.MAX_PACK_BYTES else "strict")
        except UnicodeDecodeError:
            text = None
            error = "The file is not UTF-8 text."
    else:
        text, error = None, "Choose a file or a shipped pack."
    pack = None
    if text is not None:
        try:
            pack = packs.parse(text)
            error = None
        except DomainError as e:
            error = e.message
    existing = set()
    if pack is not None:
        existing = set(
            get_session().exec(select(Question.pack_key).where(Question.competition_id == comp.id))
        )
    confirm = PackConfirmForm(formdata=None, text=text if pack else "")
    return render_template(
        "competitions/pack_preview.html",
        comp=comp,
        pack=pack,
        error=error,
        existing=existing,
        confirm=confirm,
    ), (200 if pack else 422)


@bp.post("/c/<slug>/packs/load")
@login_required
def pack_load(slug: str):
    """Create the previewed pack's new questions."""
    comp = _moderated(slug)
    form = PackConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        created = transaction(
            lambda s: packs.load(
                session=s,
                text=form.text.data,
                competition=s.get(Competition, comp.id),
                user_id=current_user.id,
            )
        )
    except DomainError as e:
        if e.status == 403:
            raise
        flash(e.message, "error")
        return redirect(url_for("competitions.settings", slug=slug), 303)
    flash(f"Loaded {len(created)} new questions.", "success")
    return redirect(url_for("home.competition_home", slug=slug), 303)
