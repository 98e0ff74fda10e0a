"""Flask-WTF forms for competitions, packs and comments (CSRF comes with each)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional


class CreateCompetitionForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    slug = StringField(
        "Short name for links (slug)",
        validators=[DataRequired(), Length(max=40)],
        description="Lowercase letters, digits and dashes, like class-7b.",
    )
    starting_balance = StringField("Starting balance (points)", default="1000")
    end_at = DateTimeLocalField(
        "End date (UTC, optional)", format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    is_listed = BooleanField("Listed: anyone can see it (players still need the code to join)")


class JoinForm(FlaskForm):
    code = StringField("Join code", validators=[DataRequired(message="Enter the join code.")])


class RoleForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    role = SelectField(
        "Role", choices=[SelectChoice("moderator", "Moderator"), SelectChoice("player", "Player")]
    )


class ConfirmForm(FlaskForm):
    """A bare form: its CSRF token is what makes a button POST safe."""


class PackUploadForm(FlaskForm):
    file = FileField("Pack file (YAML or JSON)")
    shipped = SelectField(
        "Or a shipped pack",
        choices=[SelectChoice("", "—"), SelectChoice("amazon-tiktok", "Amazon and TikTok")],
    )


class PackConfirmForm(FlaskForm):
    text = TextAreaField("Pack", validators=[DataRequired()])


class CommentForm(FlaskForm):
    body = TextAreaField(
        "Your comment",
        validators=[DataRequired(message="Write something first."), Length(max=2000)],
    )
