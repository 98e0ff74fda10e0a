"""Moderator pages: the resolution queue and audit log, writing, editing,
closing, resolving, cancelling (N/A) and undoing questions.

Every view checks on the server that the signed-in user moderates the
question's competition (or is a site admin): a player gets 403, a non-member
of a private competition 404, and an anonymous visitor the login page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import Session
from wtforms import SelectChoice

from forecast.db import get_session, transaction
from forecast.extensions import login_manager
from forecast.market.money import fmt
from forecast.models import Competition, Question, utcnow
from forecast.services import access, moderation, previews, questions, resolution
from forecast.services.competitions import effective_status as competition_status
from forecast.services.errors import DomainError
from forecast.web import confirm
from forecast.web.moderate_forms import (
    CloseForm,
    EditQuestionForm,
    NoteForm,
    QuestionForm,
    ResolveForm,
)

bp = Blueprint("moderate", __name__, url_prefix="/moderate")


@bp.before_request
def _signed_in():
    """Send anonymous visitors to the login page before anything else."""
    if current_user.is_authenticated:
        return None
    if login_manager.login_view in current_app.view_functions:
        return login_manager.unauthorized()
    abort(401)


def question_url(question_id: int) -> str:
    """The player's page of a question."""
    if "questions.question" in current_app.view_functions:
        return url_for("questions.question", question_id=question_id)
    return f"{request.script_root}/questions/{question_id}"


def utc(dt: datetime | None) -> str:
    return "—" if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@bp.context_processor
def _helpers() -> dict:
    return {
        "question_url": question_url,
        "utc": utc,
        "fmt": fmt,
        "now": utcnow(),
        "action_names": moderation.ACTION_NAMES,
    }


def _render(template: str, *, comp: Competition, **context) -> str:
    """Render a moderator page; the layout's navigation follows ``competition``."""
    return render_template(template, comp=comp, competition=comp, **context)


def _moderated_competition(slug: str) -> Competition:
    session = get_session()
    comp = access.get_competition(session, slug)
    access.require_moderator(session, current_user.id, comp.id)
    return comp


def _moderated_question(question_id: int) -> tuple[Question, Competition]:
    session = get_session()
    question = access.get_question(session, question_id)  # NotFound past MAX_QUESTION_ID
    access.require_moderator(session, current_user.id, question.competition_id)
    return question, session.get(Competition, question.competition_id)


def _field_error(form, err: DomainError) -> None:  # noqa: ANN001
    """Put a service's error next to its field (or on the form when it names none)."""
    field = getattr(form, err.field, None) if err.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, err.message]
    else:
        form.form_errors.append(err.message)


T = TypeVar("T")


def _submit(form, use_case: Callable[[Session], T]) -> tuple[T | None, DomainError | None]:  # noqa: ANN001
    """Run a form's use case in one transaction: (its result, None), or (None, the
    refusal) with its message next to the form's field.  Forbidden and not found go on
    to their error pages."""
    try:
        return transaction(use_case), None
    except DomainError as e:
        if e.status in (403, 404):
            raise
        _field_error(form, e)
        return None, e


def _status(form, err: DomainError | None = None) -> int:  # noqa: ANN001
    if err is not None and err.status == 409:
        return 409
    return 422 if form.errors or form.form_errors else 200


def _aware(dt: datetime) -> datetime:
    """A datetime-local value, which has no zone, read as UTC."""
    return dt.replace(tzinfo=UTC)


@bp.get("/<slug>")
def dashboard(slug: str):
    """Show the queue awaiting resolution, the other questions, and the audit log."""
    comp = _moderated_competition(slug)
    session = get_session()
    page = request.args.get("page", 1, type=int)
    log = moderation.audit_log(session, comp, page=page if page is not None else 1)
    return _render(
        "moderate/dashboard.html",
        comp=comp,
        queue=moderation.resolution_queue(session, comp),
        others=moderation.questions_by_status(session, comp),
        log=log,
    )


@bp.route("/<slug>/questions/new", methods=["GET", "POST"])
def create_question(slug: str):
    """Write a new question (binary or multiple choice) in this competition."""
    comp = _moderated_competition(slug)
    form = QuestionForm()
    form.describe_depths(comp.starting_balance)
    err = None
    if competition_status(comp) != "open":
        ended = _render("moderate/new.html", comp=comp, form=form, ended=True)
        return ended, 409 if request.method == "POST" else 200
    if form.validate_on_submit():

        def create(s: Session) -> Question:
            return questions.create_question(
                session=s,
                user_id=current_user.id,
                competition=s.get(Competition, comp.id),
                title=form.title.data,
                description=form.description.data or "",
                resolution_criteria=form.resolution_criteria.data or "",
                source=form.source.data or "",
                kind=form.kind.data,
                outcomes=form.outcome_labels(),
                close_at=_aware(form.close_at.data),
                liquidity=form.chosen_liquidity(comp.starting_balance),
                initial_probabilities=form.initial_probabilities.parsed,
            )

        question, err = _submit(form, create)
        if err is None:
            flash(f"Created “{question.title}”.", "success")
            return redirect(question_url(question.id), 303)
    return _render("moderate/new.html", comp=comp, form=form), _status(form, err)


@bp.route("/questions/<int:question_id>/edit", methods=["GET", "POST"])
def edit_question(question_id: int):
    """Edit a question's text or close time, giving a reason for the audit log."""
    question, comp = _moderated_question(question_id)
    form = EditQuestionForm(obj=question if request.method == "GET" else None)
    if request.method == "GET":
        form.close_at.data = question.close_at.replace(tzinfo=None, second=0, microsecond=0)
    close_form = CloseForm(formdata=None)
    err = None
    if form.validate_on_submit():
        new_close = _aware(form.close_at.data)
        # An unchanged close time (shown to the minute) is not a change; a past
        # one must not block fixing a typo in a closed question's text.
        unchanged = new_close == question.close_at.replace(second=0, microsecond=0)
        _, err = _submit(
            form,
            lambda s: questions.edit_question(
                session=s,
                user_id=current_user.id,
                question_id=question.id,
                title=form.title.data,
                description=form.description.data or "",
                resolution_criteria=form.resolution_criteria.data or "",
                source=form.source.data or "",
                close_at=None if unchanged else new_close,
                reason=form.reason.data.strip(),
            ),
        )
        if err is None:
            flash("Saved the question.", "success")
            return redirect(question_url(question.id), 303)
    return _render(
        "moderate/edit.html",
        comp=comp,
        question=question,
        status=questions.effective_status(question),
        form=form,
        close_form=close_form,
    ), _status(form, err)


@bp.post("/questions/<int:question_id>/close")
def close_question(question_id: int):
    """Stop trading in a question now."""
    question, comp = _moderated_question(question_id)
    form = CloseForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
    elif not confirm.confirmed() and questions.effective_status(question) == "open":
        return confirm.page(
            title=f"Close trading in “{question.title}” now?",
            consequences=[
                "Nobody can buy or sell in it from now on; it waits for you to resolve it.",
                "Players keep their shares until it is resolved or cancelled.",
                "Trading cannot be opened again.",
            ],
            action=url_for("moderate.close_question", question_id=question.id),
            button="Close trading now",
            back=url_for("moderate.edit_question", question_id=question.id),
            fields={"close_reason": form.close_reason.data or ""},
            competition=comp,
        )
    else:
        try:
            transaction(
                lambda s: questions.close_question(
                    session=s,
                    user_id=current_user.id,
                    question_id=question.id,
                    reason=(form.close_reason.data or "").strip(),
                )
            )
        except DomainError as e:
            if e.status in (403, 404):
                raise
            flash(e.message, "error")
        else:
            flash(f"Trading in “{question.title}” is closed; it awaits resolution.", "success")
    return redirect(url_for("moderate.dashboard", slug=comp.slug), 303)


@bp.route("/questions/<int:question_id>/resolve", methods=["GET", "POST"])
def resolve(question_id: int):
    """Resolve a question to an outcome, with a note and a source URL."""
    question, comp = _moderated_question(question_id)
    outcomes = questions.outcomes_of(get_session(), question.id)
    form = ResolveForm()
    # Nothing preselected: the moderator names the outcome, then confirms (_confirm_resolve).
    form.outcome.choices = [SelectChoice("", "Choose the outcome…")] + [
        SelectChoice(o.id, o.label) for o in outcomes
    ]
    err = None
    valid = form.validate_on_submit()
    if valid and not confirm.confirmed() and question.status not in ("resolved", "cancelled"):
        try:  # what the resolution would refuse is shown on the form, not confirmed
            resolution.check_text(form.note.data, form.source_url.data)
        except DomainError as e:
            err = e
            _field_error(form, e)
        else:
            return _confirm_resolve(question, comp, outcomes, form)
    elif valid:
        _, err = _submit(
            form,
            lambda s: resolution.resolve(
                session=s,
                user_id=current_user.id,
                question_id=question.id,
                outcome_id=form.outcome.data,
                note=form.note.data or "",
                source_url=form.source_url.data or "",
            ),
        )
        if err is None:
            label = next(o.label for o in outcomes if o.id == form.outcome.data)
            flash(f"Resolved “{question.title}” to {label}; winners are paid.", "success")
            return redirect(question_url(question.id), 303)
    return _render(
        "moderate/resolve.html",
        comp=comp,
        question=question,
        status=questions.effective_status(question),
        preview=moderation.resolve_preview(get_session(), question),
        form=form,
    ), _status(form, err)


def _confirm_resolve(question: Question, comp: Competition, outcomes: list, form: ResolveForm):
    """What resolving to the chosen outcome pays, and to whom, before it is done."""
    label = next(o.label for o in outcomes if o.id == form.outcome.data)
    paid = previews.payouts_if(get_session(), form.outcome.data)
    total = sum(p.points for p in paid)
    consequences = [
        f"“{question.title}” resolves to {label}.",
        f"{len(paid)} player{'' if len(paid) == 1 else 's'} holding {label} "
        f"{'is' if len(paid) == 1 else 'are'} paid one point a share: {fmt(total)} points in all.",
        "Shares of the other outcomes pay nothing.",
    ]
    if questions.effective_status(question) == "open":
        consequences.append("Trading closes now.")
    consequences.append("You can undo a resolution later; its payouts are then reversed.")
    return confirm.page(
        title=f"Resolve to {label}?",
        consequences=consequences,
        action=url_for("moderate.resolve", question_id=question.id),
        button=f"Resolve to {label} and pay out",
        back=url_for("moderate.resolve", question_id=question.id),
        fields={
            "outcome": form.outcome.data,
            "note": form.note.data or "",
            "source_url": form.source_url.data or "",
        },
        table=[(p.username, fmt(p.points)) for p in paid],
        table_caption=f"Who gets what if it resolves to {label}",
        competition=comp,
    )


@bp.route("/questions/<int:question_id>/cancel", methods=["GET", "POST"])
def cancel(question_id: int):
    """Cancel a question (N/A) after showing what it reverses."""
    question, comp = _moderated_question(question_id)
    form = NoteForm()
    err = None
    if form.validate_on_submit():
        _, err = _submit(
            form,
            lambda s: resolution.cancel(
                session=s, user_id=current_user.id, question_id=question.id, note=form.note.data
            ),
        )
        if err is None:
            flash(f"Cancelled “{question.title}” (N/A); every trade is refunded.", "success")
            return redirect(question_url(question.id), 303)
    return _render(
        "moderate/cancel.html",
        comp=comp,
        question=question,
        status=questions.effective_status(question),
        preview=moderation.cancel_preview(get_session(), question),
        form=form,
    ), _status(form, err)


@bp.route("/questions/<int:question_id>/undo", methods=["GET", "POST"])
def undo(question_id: int):
    """Undo a resolution or cancellation after showing the payouts it reverses."""
    question, comp = _moderated_question(question_id)
    form = NoteForm()
    err = None
    was = question.status
    if form.validate_on_submit():
        _, err = _submit(
            form,
            lambda s: resolution.undo(
                session=s, user_id=current_user.id, question_id=question.id, note=form.note.data
            ),
        )
        if err is None:
            what = "cancellation" if was == "cancelled" else "resolution"
            flash(
                f"Undid the {what} of “{question.title}”; it is closed and awaits resolution.",
                "success",
            )
            return redirect(url_for("moderate.dashboard", slug=comp.slug), 303)
    outcome = None
    if question.resolved_outcome_id is not None:
        outcome = next(
            (
                o
                for o in questions.outcomes_of(get_session(), question.id)
                if o.id == question.resolved_outcome_id
            ),
            None,
        )
    return _render(
        "moderate/undo.html",
        comp=comp,
        question=question,
        outcome=outcome,
        preview=moderation.undo_preview(get_session(), question),
        final=resolution.in_final_standings(question, comp),
        form=form,
    ), _status(form, err)
