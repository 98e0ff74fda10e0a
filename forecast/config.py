"""Configuration from the environment (see API.md and README.md)."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path


def instance_path() -> Path:
    return Path(os.environ.get("FORECAST_INSTANCE_PATH", "instance")).resolve()


def _secret_key(folder: Path) -> str:
    key = os.environ.get("FORECAST_SECRET_KEY")
    if key:
        if key in {"change-me", "secret", "dev", "changeme"}:
            raise RuntimeError("FORECAST_SECRET_KEY is a placeholder; set a real random value.")
        return key
    path = folder / "secret_key"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


DEFAULT_RATELIMITS = {
    "RATELIMIT_LOGIN": "10 per minute;100 per hour",  # per address and username
    "RATELIMIT_LOGIN_ADDRESS": "40 per minute;400 per hour",  # per address, any username
    "RATELIMIT_REGISTER": "10 per minute;50 per hour",  # per address
    "RATELIMIT_TRADE": "120 per minute",
    "RATELIMIT_COMMENT": "10 per minute;100 per hour",
    "RATELIMIT_API": "600 per minute",
}


class Config:
    def __init__(self) -> None:
        folder = instance_path()
        self.INSTANCE_PATH = str(folder)
        self.DATABASE_URL = os.environ.get(
            "FORECAST_DATABASE_URL", f"sqlite:///{folder / 'forecast.db'}"
        )
        self.SECRET_KEY = _secret_key(folder)
        self.MAX_CONTENT_LENGTH = 1 * 1024 * 1024
        # Every cookie the site sets (README.md, Configuration): the session and
        # Flask-Login's remember cookie, alike but for how long they last.
        secure = os.environ.get("FORECAST_SECURE_COOKIES", "") == "1"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = secure
        self.REMEMBER_COOKIE_NAME = "remember_token"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = secure
        self.REMEMBER_COOKIE_DURATION = timedelta(days=30)
        self.WTF_CSRF_TIME_LIMIT = None
        limits = os.environ.get("FORECAST_RATELIMIT", "")
        self.RATELIMIT_ENABLED = limits.strip().lower() != "off"
        self.RATELIMIT_STORAGE_URI = os.environ.get("FORECAST_RATELIMIT_STORAGE", "memory://")
        self.RATELIMIT_HEADERS_ENABLED = True
        for k, v in DEFAULT_RATELIMITS.items():
            setattr(self, k, v)
        if limits and limits.lower() != "off":
            # "login=5/minute;trade=60/minute" overrides chosen limits
            for part in limits.split(","):
                name, _, value = part.partition("=")
                if value:
                    setattr(self, f"RATELIMIT_{name.strip().upper()}", value.strip())
        self.TRUSTED_PROXY = os.environ.get("FORECAST_TRUSTED_PROXY", "")
        self.SEED_ON_START = True


class TestingConfig(Config):
    def __init__(self, database_url: str, instance: str) -> None:
        os.environ.setdefault("FORECAST_INSTANCE_PATH", instance)
        super().__init__()
        self.TESTING = True
        self.DATABASE_URL = database_url
        self.RATELIMIT_ENABLED = False
        self.SEED_ON_START = False
