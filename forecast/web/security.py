"""Security headers on every response (pages and API), and no text that a database
cannot store past the edge."""

from __future__ import annotations

from flask import Flask, Response, request

from forecast.services.errors import unstorable
from forecast.web.errors import error_response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)


def unstorable_input() -> str | None:
    """The name of the first part of the request holding a NUL character or an unpaired
    surrogate: a query or form field (name or value), or a header.  The API's JSON body
    is checked where it is parsed (web.api); a path with one names nothing (404)."""
    sources = [request.args] if request.method == "GET" else [request.args, request.form]
    for source in sources:
        for name, value in source.items(multi=True):
            if unstorable(name) or unstorable(value):
                return name if not unstorable(name) else "field name"
    for name, value in request.headers.items():
        if "\x00" in value:
            return name
    return None


def init_app(app: Flask) -> None:
    @app.before_request
    def _storable_text():  # noqa: ANN202
        where = unstorable_input()
        if where is not None:
            return error_response(
                400,
                "bad_request",
                f"{where}: text may not hold NUL or unpaired surrogate characters.",
                field=where,
            )
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return resp
