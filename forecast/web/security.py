"""Security headers on every response (pages and API), and no text that a database
cannot store past the edge."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.datastructures import ImmutableMultiDict

from forecast.services.errors import unstorable
from forecast.web.errors import error_response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)


def unstorable_input() -> tuple[str, str] | None:
    """("field", name) or ("header", name): the first form field (name or value) or
    header of the request that holds a NUL character or an unpaired surrogate.

    A query parameter holding one is dropped here, as if it had not been sent; the
    API's JSON body is checked where it is parsed (web.api), and a path with one
    names nothing (404).
    """
    if any(unstorable(k) or unstorable(v) for k, v in request.args.items(multi=True)):
        request.args = ImmutableMultiDict(
            (k, v)
            for k, v in request.args.items(multi=True)
            if not (unstorable(k) or unstorable(v))
        )
    if request.method != "GET":
        for name, value in request.form.items(multi=True):
            if unstorable(name) or unstorable(value):
                return "field", "a field name" if unstorable(name) else name
    for name, value in request.headers.items():
        if "\x00" in value:
            return "header", name
    return None


def init_app(app: Flask) -> None:
    @app.before_request
    def _storable_text():  # noqa: ANN202
        found = unstorable_input()
        if found is None:
            return None
        kind, name = found  # a header makes a malformed request; a field, an invalid one
        return error_response(
            400 if kind == "header" else 422,
            "bad_request" if kind == "header" else "invalid",
            f"{name}: text may not hold NUL or unpaired surrogate characters.",
            field=name,
        )

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return resp
