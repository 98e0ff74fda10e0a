"""Sign-in state: the Flask-Login user loader.  Pages for register/login come in web/auth views."""

from __future__ import annotations

from flask import Blueprint, Flask

from forecast.db import get_session
from forecast.extensions import login_manager
from forecast.models import User

bp = Blueprint("auth", __name__)


class CurrentUser:
    """What Flask-Login keeps for a signed-in user (detached from any session)."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.username = user.username
        self.is_admin = user.is_admin
        self.is_active = user.is_active
        self.is_authenticated = True
        self.is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


@login_manager.user_loader
def _load(user_id: str) -> CurrentUser | None:
    try:
        user = get_session().get(User, int(user_id))
    except ValueError:
        return None
    return CurrentUser(user) if user is not None and user.is_active else None


def init_app(app: Flask) -> None:
    pass
