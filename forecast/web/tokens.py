"""The one reading of an `Authorization: Bearer <token>` header, for the API's
authentication and the rate limiter's key alike."""

from __future__ import annotations

import re

# RFC 6750: the scheme in any case, one space, one b64token, nothing else
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9._~+/-]+=*)")


class MalformedBearer(ValueError):
    """An Authorization header that is not exactly 'Bearer <token>'."""


def bearer_token(header: str | None) -> str | None:
    """The token of an Authorization header, None without one; raises MalformedBearer
    for any other form (another scheme, no token, two spaces, two tokens)."""
    if header is None:
        return None
    m = _BEARER.fullmatch(header)
    if m is None:
        raise MalformedBearer(header)
    return m.group(1)
