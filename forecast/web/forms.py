"""Flask-WTF forms for accounts and trading (each carries its CSRF token).

The forms check presence and shape; the services own the rules (username
pattern, password length, amounts) so the web and the API give the same
messages.
"""

from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, EqualTo

MODES = ("buy", "sell", "probability")


def mode_of(value: object) -> str:
    """The trade panel's mode from a form or a query string: one of MODES, else "buy"."""
    return value if value in MODES else "buy"


class NewAccountForm(FlaskForm):
    """A new account's name and password, typed twice (register, and join by link)."""

    username = StringField(
        "Username",
        validators=[DataRequired(message="Choose a username.")],
        description="3-40 letters, digits, dots, dashes or underscores. Others see it.",
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(message="Choose a password.")],
        description="At least 8 characters.",
    )
    confirm = PasswordField(
        "Password again",
        validators=[
            DataRequired(message="Type the password again."),
            EqualTo("password", message="The two passwords are not the same."),
        ],
    )


class RegisterForm(NewAccountForm):
    next = HiddenField()


class CredentialsForm(FlaskForm):
    """An existing account's name and password (log in, and join by link)."""

    username = StringField("Username", validators=[DataRequired(message="Enter your username.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])


class LoginForm(CredentialsForm):
    remember = BooleanField("Keep me logged in on this device")
    next = HiddenField()


class PasswordForm(FlaskForm):
    old_password = PasswordField(
        "Current password", validators=[DataRequired(message="Enter your current password.")]
    )
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(message="Choose a new password.")],
        description="At least 8 characters.",
    )
    confirm = PasswordField(
        "New password again",
        validators=[
            DataRequired(message="Type the new password again."),
            EqualTo("new_password", message="The two passwords are not the same."),
        ],
    )


class LogoutForm(FlaskForm):
    """A bare form: its CSRF token keeps other sites from logging players out."""


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class TradeForm(FlaskForm):
    """One trade: an outcome and, by mode, points to spend, shares to sell or a probability.

    Amounts stay text here: trading.parse_order checks them and names the
    field, so "abc", "-5", "NaN" and "1e999" get the service's message.
    """

    mode = HiddenField(default="buy")
    outcome = RadioField("Outcome", validate_choice=False, coerce=str)
    spend = StringField("Points to spend")
    sell = StringField("Shares to sell")
    # Its own id: "probability" is the page section that shows the market's probabilities.
    probability = StringField("Your probability (%)", id="my-probability")
    max_spend = StringField(
        "Spend at most (points, optional)",
        description="The trade stops where this budget runs out.",
    )
    idempotency_key = HiddenField(default=new_idempotency_key)

    def current_mode(self) -> str:
        return mode_of(self.mode.data)

    def amount_field(self):
        """The field holding the amount for the chosen mode."""
        return {"buy": self.spend, "sell": self.sell, "probability": self.probability}[
            self.current_mode()
        ]
