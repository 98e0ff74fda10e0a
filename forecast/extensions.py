"""Extensions, created here and bound to the app in create_app."""

from __future__ import annotations

import hashlib

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from forecast.web.tokens import MalformedBearer, bearer_token

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to do that."
login_manager.login_message_category = "info"

csrf = CSRFProtect()


def _limit_key() -> str:
    """Rate-limit bots by their token, people by their address.

    The token is read as the API reads it (web.tokens): any way of writing the header
    that the API accepts names the same budget, and any other way is a 401 there
    (counted against the address here).
    """
    try:
        plain = bearer_token(request.headers.get("Authorization"))
    except MalformedBearer:
        plain = None
    if plain is not None:
        return "token:" + hashlib.sha256(plain.encode()).hexdigest()[:16]
    return get_remote_address()


def user_key() -> str:
    """Rate-limit a signed-in person's actions by their account, wherever they come from."""
    return f"user:{current_user.id}" if current_user.is_authenticated else "anon"


limiter = Limiter(key_func=_limit_key, default_limits=[])
