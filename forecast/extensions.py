"""Extensions, created here and bound to the app in create_app."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to do that."
login_manager.login_message_category = "info"

csrf = CSRFProtect()


def _limit_key() -> str:
    """Rate-limit bots by their token, people by their address."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        import hashlib

        return "token:" + hashlib.sha256(auth[7:].encode()).hexdigest()[:16]
    return get_remote_address()


def user_key() -> str:
    """Rate-limit a signed-in person's actions by their account, wherever they come from."""
    return f"user:{current_user.id}" if current_user.is_authenticated else "anon"


limiter = Limiter(key_func=_limit_key, default_limits=[])
