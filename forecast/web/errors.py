"""Errors for people and for bots: no input ever gives a 500.

Under /api/ every error is JSON in API.md's shape; elsewhere an error page.
Views that show a form catch DomainError themselves to put the message next
to the field; what reaches here is everything else.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from forecast.services.errors import DomainError

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, field: str | None = None):
    if wants_json():
        body = {"error": {"code": code, "message": message}}
        if field:
            body["error"]["field"] = field
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(e: DomainError):
        return error_response(e.status, e.code, e.message, e.field)

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError):
        return error_response(
            400,
            "csrf_failed",
            "The form expired or was not sent from this site; reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        status = e.code or 500
        message = e.description or e.name
        if status == 429:
            message = "Too many requests; slow down and try again in a minute."
        if status == 413:
            message = "The request body is too large."
        resp = make_response(error_response(status, CODES.get(status, "error"), message))
        if isinstance(e, MethodNotAllowed) and e.valid_methods:
            resp.headers["Allow"] = ", ".join(e.valid_methods)  # a 405 names what is allowed
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Something went wrong on our side.")
