"""Domain errors: each carries an API error code, an HTTP status and a message fit for a person."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Invalid(DomainError):
    """A field is missing, of the wrong type, or out of range (HTTP 422)."""

    status = 422
    code = "invalid"


class Conflict(DomainError):
    """The state forbids it (HTTP 409)."""

    status = 409
    code = "conflict"


_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def unstorable(value: object) -> bool:
    """True for text holding a NUL character or an unpaired surrogate: PostgreSQL
    stores neither, and neither can be encoded as UTF-8 for any database."""
    return isinstance(value, str) and _UNSTORABLE.search(value) is not None


def has_nul(value: object) -> bool:
    """True for text holding a NUL character, which PostgreSQL cannot store or compare."""
    return isinstance(value, str) and "\x00" in value


@contextmanager
def unique(conflict: DomainError) -> Iterator[None]:
    """Raise ``conflict`` for a unique violation in the block (a concurrent request
    inserted the same name first, after this one looked); the caller's transaction
    then rolls back as for any domain error."""
    try:
        yield
    except IntegrityError:
        raise conflict from None
