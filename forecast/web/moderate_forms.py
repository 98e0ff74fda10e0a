"""Flask-WTF forms for the moderator pages (CSRF comes with each).

The forms check what only a form can (a field is there, a date parses, the
percentages add up); everything about the question itself is checked once, by
services.questions, whose errors the views put next to the named field.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from forecast.market.liquidity import (
    DEFAULT_DEPTH,
    DEPTHS,
    default_liquidity,
    probability_after_spend,
)
from forecast.market.money import fmt, from_units, typed_amount

TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain_text(form: FlaskForm, field) -> None:  # noqa: ANN001
    """No NUL or other control characters (PostgreSQL refuses NUL in text)."""
    if isinstance(field.data, str) and CONTROL.search(field.data):
        raise ValidationError("Remove the control characters from this text.")


def close_time(label: str, *, required: bool = True) -> DateTimeLocalField:
    return DateTimeLocalField(
        label,
        format=TIME_FORMATS,
        validators=[InputRequired(message="Give the close time.")] if required else [Optional()],
        description="UTC, not your local time.",
    )


def lines(text: str | None) -> list[str]:
    """Non-blank lines of a textarea, stripped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class QuestionForm(FlaskForm):
    kind = RadioField(
        "Kind",
        choices=[
            SelectChoice("binary", "Binary (YES / NO)"),
            SelectChoice("multiple_choice", "Multiple choice"),
        ],
        default="binary",
        validators=[InputRequired(message="Choose binary or multiple choice.")],
    )
    title = StringField(
        "Title",
        validators=[DataRequired(message="Title is required."), Length(max=300), plain_text],
    )
    outcomes = TextAreaField(
        "Outcomes (multiple choice only)",
        validators=[Length(max=20 * 121), plain_text],
        description="One label per line, 2 to 20. A binary question's outcomes are YES and NO.",
    )
    description = TextAreaField("Description", validators=[Length(max=10_000), plain_text])
    resolution_criteria = TextAreaField(
        "Resolution criteria",
        validators=[Length(max=10_000), plain_text],
        description="How a moderator will decide the outcome, without judgement calls.",
    )
    source = StringField(
        "Source", validators=[Length(max=2_000), plain_text], description="Where to check."
    )
    close_at = close_time("Close time (UTC)")
    depth = RadioField(
        "Liquidity: how far trades move the price",
        choices=[SelectChoice(name, name.capitalize()) for name in DEPTHS],
        default=DEFAULT_DEPTH,
        validators=[Optional()],  # none chosen: the default
    )
    liquidity = StringField(
        "Or your own liquidity b (points, optional)",
        validators=[Optional(), Length(max=40)],
        description=(
            "Leave empty to use the choice above. Larger b, steadier prices; the market "
            "maker can lose at most b × ln(number of outcomes) points."
        ),
    )
    initial_probabilities = TextAreaField(
        "Opening probabilities (%, optional)",
        validators=[Length(max=1_000)],
        description=(
            "One percentage per outcome, in the order above (YES then NO for binary), "
            "adding up to 100. Leave empty for equal odds."
        ),
    )

    def describe_depths(self, starting_balance: int) -> None:
        """Label each depth with what it means in this competition's points."""
        self.depth.choices = [
            SelectChoice(name, depth_label(name, starting_balance)) for name in DEPTHS
        ]

    def chosen_liquidity(self, starting_balance: int) -> object:
        """The b to ask for: the typed one, else the chosen depth's (in points)."""
        typed = typed_amount(self.liquidity.data or "")
        if typed:
            return typed
        return from_units(default_liquidity(starting_balance, self.depth.data or DEFAULT_DEPTH))

    def outcome_labels(self) -> list[str] | None:
        return lines(self.outcomes.data) if self.kind.data == "multiple_choice" else None

    def validate_initial_probabilities(self, field) -> None:  # noqa: ANN001
        field.parsed = parse_percentages(field.data)


def depth_label(name: str, starting_balance: int) -> str:
    """'Normal (b = 1,442.70): the whole starting balance of 1,000.00 points moves a 50%
    question to at most 75.0%; a tenth of it, to 53.3%. The default.'"""
    multiple, meaning = DEPTHS[name]
    b = default_liquidity(starting_balance, name)
    whole = probability_after_spend(b, starting_balance)
    tenth = probability_after_spend(b, starting_balance // 10)
    return (
        f"{name.capitalize()} (b = {fmt(b)}): the whole starting balance of "
        f"{fmt(starting_balance)} points moves a 50% question to at most {whole:.1%}; "
        f"a tenth of it, to {tenth:.1%}. {meaning.capitalize()}."
    )


def parse_percentages(text: str | None) -> list[float] | None:
    """'60, 40' or one per line -> [0.6, 0.4]; None when empty.

    Raises ValidationError unless every entry is a number from 0.1 to 99.9
    and they add up to exactly 100.
    """
    parts = [p.strip().removesuffix("%").strip() for p in re.split(r"[,;\n]", text or "")]
    parts = [p for p in parts if p]
    if not parts:
        return None
    values = []
    for p in parts:
        try:
            d = Decimal(p)
        except InvalidOperation:
            raise ValidationError(f"“{p[:20]}” is not a number.") from None
        if not d.is_finite() or not Decimal("0.1") <= d <= Decimal("99.9"):
            raise ValidationError("Each opening probability is from 0.1% to 99.9%.")
        values.append(d)
    total = sum(values)
    if total != 100:
        raise ValidationError(f"The opening probabilities add up to {total}%, not 100%.")
    return [float(d / 100) for d in values]


class EditQuestionForm(FlaskForm):
    title = StringField(
        "Title",
        validators=[DataRequired(message="Title is required."), Length(max=300), plain_text],
    )
    description = TextAreaField("Description", validators=[Length(max=10_000), plain_text])
    resolution_criteria = TextAreaField(
        "Resolution criteria", validators=[Length(max=10_000), plain_text]
    )
    source = StringField("Source", validators=[Length(max=2_000), plain_text])
    close_at = close_time("Close time (UTC)")
    reason = StringField(
        "Reason for the change",
        validators=[
            DataRequired(message="Say why, for the audit log."),
            Length(max=1_000),
            plain_text,
        ],
        description="Shown in the moderators' audit log.",
    )


def _choice(value: object) -> int | str:
    """A select's value: an id, or "" for its "choose…" line (nothing preselected)."""
    return "" if value in ("", None) else int(value)


class ResolveForm(FlaskForm):
    outcome = SelectField(
        "Outcome", coerce=_choice, validators=[InputRequired(message="Choose the outcome.")]
    )
    note = TextAreaField(
        "Note",
        validators=[Length(max=5_000), plain_text],
        description="Shown to players with the result.",
    )
    source_url = URLField(
        "Source URL",
        validators=[Length(max=2_000), plain_text],
        description="An http(s) link that shows the outcome.",
    )


class NoteForm(FlaskForm):
    """Cancel and undo: a confirmation with an optional note for the audit log."""

    note = TextAreaField("Note (optional)", validators=[Length(max=5_000), plain_text])


class CloseForm(FlaskForm):
    # Not "reason": the edit page shows this form next to the edit form's reason.
    close_reason = StringField("Reason (optional)", validators=[Length(max=1_000), plain_text])
