"""The OpenAPI 3 description of the JSON API (served at /api/v1/openapi.json).

Written by hand next to web/api.py: every path, parameter, request body and
answer, with API.md's error shape.  tests/api checks that every route of the
api blueprint is described here, and tests/reliability fuzzes the API from it.
"""

from __future__ import annotations

from typing import Any

NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}
STRING = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
ID = {"type": "integer", "minimum": 1}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict, required: list[str] | None = None, **extra: Any) -> dict:
    schema = {"type": "object", "properties": props, **extra}
    if required is None:
        required = list(props)
    if required:
        schema["required"] = required
    return schema


SCHEMAS: dict[str, dict] = {
    "Error": _obj(
        {
            "error": _obj(
                {
                    "code": {**STRING, "example": "insufficient_balance"},
                    "message": STRING,
                    "field": {**STRING, "description": "the field at fault, when one is"},
                },
                ["code", "message"],
            )
        }
    ),
    "Membership": _obj(
        {
            "competition": {**STRING, "description": "the competition's slug"},
            "role": {"type": "string", "enum": ["player", "moderator", "owner"]},
            "balance": {**NUMBER, "description": "points not in any position"},
            "net_worth": {
                **NUMBER,
                "description": "balance plus what the market maker would pay now for all "
                "open shares, each question's sold together",
            },
        }
    ),
    "Me": _obj(
        {
            "username": STRING,
            "is_admin": {"type": "boolean"},
            "memberships": {"type": "array", "items": _ref("Membership")},
        }
    ),
    "NewCompetition": _obj(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 120},
            "slug": {
                "type": "string",
                "pattern": "^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$",
                "example": "class-7b",
            },
            "starting_balance": {
                **NUMBER,
                "minimum": 0,
                "exclusiveMinimum": True,
                "maximum": 1_000_000_000,
            },
            "is_listed": {"type": "boolean", "default": True},
            "end_at": {**TIME, "description": "optional; in the future; trading stops then"},
        },
        ["name", "slug", "starting_balance"],
    ),
    "Competition": _obj(
        {
            "slug": STRING,
            "name": STRING,
            "join_code": STRING,
            "starting_balance": NUMBER,
            "is_listed": {"type": "boolean"},
            "end_at": {**TIME, "nullable": True},
        }
    ),
    "Join": _obj({"code": {"type": "string", "minLength": 1}}),
    "Outcome": _obj(
        {"id": INTEGER, "label": STRING, "probability": {**NUMBER, "minimum": 0, "maximum": 1}}
    ),
    "Question": _obj(
        {
            "id": INTEGER,
            "competition": {**STRING, "description": "the competition's slug"},
            "title": STRING,
            "description": STRING,
            "resolution_criteria": STRING,
            "source": STRING,
            "kind": {"type": "string", "enum": ["binary", "multiple_choice"]},
            "status": {"type": "string", "enum": ["open", "closed", "resolved", "cancelled"]},
            "close_at": TIME,
            "liquidity": {**NUMBER, "description": "the market maker's b, in points"},
            "trade_count": INTEGER,
            "outcomes": {"type": "array", "items": _ref("Outcome")},
            "resolution": {
                "type": "object",
                "nullable": True,
                "description": "null while unresolved; {outcome, note, source_url, at} when "
                "resolved; {cancel: true, note, at} when cancelled",
                "properties": {
                    "outcome": INTEGER,
                    "cancel": {"type": "boolean"},
                    "note": STRING,
                    "source_url": STRING,
                    "at": TIME,
                },
                "required": ["note", "at"],
            },
        }
    ),
    "NewQuestion": _obj(
        {
            "title": {"type": "string", "minLength": 1, "maxLength": 300},
            "description": {"type": "string", "maxLength": 10000},
            "resolution_criteria": {"type": "string", "maxLength": 10000},
            "source": {"type": "string", "maxLength": 2000},
            "kind": {"type": "string", "enum": ["binary", "multiple_choice"], "default": "binary"},
            "outcomes": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 120},
                "minItems": 2,
                "maxItems": 20,
                "description": "labels; multiple choice only (binary is YES, NO)",
            },
            "close_at": {**TIME, "description": "any time in the future"},
            "liquidity": {
                **NUMBER,
                "minimum": 1,
                "maximum": 10_000_000_000,
                "description": "b in points; default: the starting balance / ln 2 (DESIGN.md)",
            },
            "initial_probabilities": {
                "description": "opening odds, one per outcome (a list, or an object by label)",
                "oneOf": [
                    {
                        "type": "array",
                        "items": {**NUMBER, "minimum": 0, "exclusiveMinimum": True, "maximum": 1},
                    },
                    {"type": "object", "additionalProperties": NUMBER},
                ],
            },
        },
        ["title", "close_at"],
    ),
    "TradeBody": {
        "type": "object",
        "description": "one outcome and exactly one of spend, sell, to_probability "
        "(max_spend only with to_probability)",
        "properties": {
            "outcome": {**ID, "example": 1},
            "spend": {
                **NUMBER,
                "minimum": 0,
                "exclusiveMinimum": True,
                "description": "points to pay",
            },
            "sell": {
                **NUMBER,
                "minimum": 0,
                "exclusiveMinimum": True,
                "description": "shares to sell",
            },
            "to_probability": {
                **NUMBER,
                "minimum": 0,
                "exclusiveMinimum": True,
                "maximum": 1,
                "exclusiveMaximum": True,
            },
            "max_spend": {**NUMBER, "minimum": 0, "exclusiveMinimum": True},
        },
        "required": ["outcome"],
        "oneOf": [
            {"required": ["spend"], "not": {"anyOf": [{"required": ["sell"]}]}},
            {"required": ["sell"], "not": {"anyOf": [{"required": ["spend"]}]}},
            {
                "required": ["to_probability"],
                "not": {"anyOf": [{"required": ["spend"]}, {"required": ["sell"]}]},
            },
        ],
        "example": {"outcome": 1, "spend": 10},
    },
    "Quote": _obj(
        {
            "outcome": INTEGER,
            "shares": {**NUMBER, "description": "+ bought, - sold"},
            "cost": {**NUMBER, "description": "+ paid, - received"},
            "probability_before": NUMBER,
            "probability_after": NUMBER,
            "capped": {"type": "boolean", "description": "a to_probability buy cut by max_spend"},
        }
    ),
    "Trade": _obj(
        {
            "trade": _obj(
                {
                    "id": INTEGER,
                    "outcome": INTEGER,
                    "shares": {**NUMBER, "description": "+ bought, - sold"},
                    "cost": {**NUMBER, "description": "+ paid, - received"},
                    "probability_after": NUMBER,
                }
            ),
            "balance": {**NUMBER, "description": "the caller's balance after the trade"},
        }
    ),
    "Position": _obj(
        {
            "outcome": INTEGER,
            "label": STRING,
            "shares": NUMBER,
            "spent": {**NUMBER, "description": "points put in minus points taken out"},
            "value": {**NUMBER, "description": "shares at the current probability"},
        }
    ),
    "HistoryPoint": _obj(
        {
            "at": TIME,
            "probabilities": {
                "type": "object",
                "description": "outcome id -> probability",
                "additionalProperties": NUMBER,
            },
        }
    ),
    "Resolution": {
        "oneOf": [
            _obj(
                {
                    "outcome": {**ID, "example": 1},
                    "note": {"type": "string", "maxLength": 5000},
                    "source_url": {"type": "string", "pattern": "^https?://", "maxLength": 2000},
                },
                ["outcome"],
                additionalProperties=False,
            ),
            _obj(
                {
                    "cancel": {"type": "boolean", "enum": [True]},
                    "note": {"type": "string", "maxLength": 5000},
                },
                ["cancel"],
                additionalProperties=False,
            ),
        ]
    },
    "Standing": _obj(
        {
            "rank": INTEGER,
            "username": STRING,
            "net_worth": NUMBER,
            "balance": NUMBER,
            "profit": NUMBER,
            "brier": {**NUMBER, "nullable": True, "description": "mean Brier, null if unscored"},
            "scored_questions": INTEGER,
            "questions_traded": INTEGER,
            "trades": INTEGER,
        }
    ),
}

ERROR_TEXT = {
    400: "The body is not JSON, or not an object.",
    401: "No token, or an unknown or revoked token.",
    403: "Signed in, but not allowed (not a member, not a moderator).",
    404: "No such competition, question or outcome.",
    409: "The state forbids it.",
    413: "The body is too large (over 1 MB).",
    422: "A field is missing, of the wrong type, or out of range.",
    429: "Rate limited.",
}

TOKEN = [{"bearerAuth": []}]
ANYONE = [{}, {"bearerAuth": []}]
SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "description": "the competition's slug",
    "schema": {"type": "string", "example": "public"},
}
QUESTION_ID = {
    "name": "question_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647, "example": 1},
}


def _op(
    summary: str,
    ok: int,
    answer: dict | None,
    errors: list[int],
    *,
    security: list,
    body: str | None = None,
    params: list | None = None,
    ok_text: str = "OK",
) -> dict:
    responses: dict[str, Any] = {
        str(ok): {"description": ok_text}
        | ({"content": {"application/json": {"schema": answer}}} if answer else {})
    }
    codes = set(errors) | {401, 429}
    if body:
        codes |= {400, 413, 422}
    for code in sorted(codes):
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    op: dict[str, Any] = {"summary": summary, "security": security, "responses": responses}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


def _list(name: str) -> dict:
    return {"type": "array", "items": _ref(name)}


PATHS: dict[str, dict] = {
    "/me": {
        "get": _op(
            "Who the token belongs to, and their wallets", 200, _ref("Me"), [], security=TOKEN
        )
    },
    "/competitions": {
        "post": _op(
            "Create a competition; the caller is its owner",
            201,
            _ref("Competition"),
            [403, 409],
            security=TOKEN,
            body="NewCompetition",
            ok_text="Created",
        )
    },
    "/competitions/{slug}/join": {
        "post": _op(
            "Join with the join code (joining twice is harmless)",
            200,
            _ref("Membership"),
            [403, 404, 409],
            security=TOKEN,
            body="Join",
            params=[SLUG],
        )
    },
    "/competitions/{slug}/questions": {
        "get": _op(
            "A competition's questions (anyone for listed competitions, members otherwise)",
            200,
            _list("Question"),
            [404],
            security=ANYONE,
            params=[SLUG],
        ),
        "post": _op(
            "A moderator writes a question",
            201,
            _ref("Question"),
            [403, 404, 409],
            security=TOKEN,
            body="NewQuestion",
            params=[SLUG],
            ok_text="Created",
        ),
    },
    "/competitions/{slug}/leaderboard": {
        "get": _op(
            "Standings: by net worth (ties to whoever got there first) or by mean Brier",
            200,
            _list("Standing"),
            [404, 422],
            security=ANYONE,
            params=[
                SLUG,
                {
                    "name": "by",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["net_worth", "brier"]},
                },
            ],
        )
    },
    "/questions/{question_id}": {
        "get": _op(
            "One question", 200, _ref("Question"), [404], security=ANYONE, params=[QUESTION_ID]
        )
    },
    "/questions/{question_id}/history": {
        "get": _op(
            "Probabilities at opening and after each trade, oldest first",
            200,
            _list("HistoryPoint"),
            [404],
            security=ANYONE,
            params=[QUESTION_ID],
        )
    },
    "/questions/{question_id}/quote": {
        "post": _op(
            "What a trade would do now; changes nothing",
            200,
            _ref("Quote"),
            [403, 404, 409],
            security=TOKEN,
            body="TradeBody",
            params=[QUESTION_ID],
        )
    },
    "/questions/{question_id}/trades": {
        "post": {
            **_op(
                "Trade: buy for points, sell shares, or trade to a probability",
                201,
                _ref("Trade"),
                [403, 404, 409],
                security=TOKEN,
                body="TradeBody",
                params=[
                    QUESTION_ID,
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "a retry with the same key and body answers the first "
                        "trade again; the same key with another body is a 409",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    },
                ],
                ok_text="Traded (or the first answer again, for a repeated Idempotency-Key)",
            )
        }
    },
    "/questions/{question_id}/positions": {
        "get": _op(
            "The caller's shares of each outcome",
            200,
            _list("Position"),
            [403, 404],
            security=TOKEN,
            params=[QUESTION_ID],
        )
    },
    "/questions/{question_id}/resolution": {
        "post": _op(
            "A moderator resolves to an outcome (each winning share pays 1 point) or cancels",
            200,
            _ref("Question"),
            [403, 404, 409],
            security=TOKEN,
            body="Resolution",
            params=[QUESTION_ID],
        ),
        "delete": _op(
            "A moderator undoes the resolution: payouts reversed, the question back to closed "
            '(an optional body {"note": ...} says why)',
            200,
            _ref("Question"),
            [400, 403, 404, 409, 413, 422],
            security=TOKEN,
            params=[QUESTION_ID],
        ),
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "security": ANYONE,
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "401": {"$ref": "#/components/responses/E401"},
                "429": {"$ref": "#/components/responses/E429"},
            },
        }
    },
}


def document() -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "forecast",
            "version": "1",
            "description": "The JSON API for bots: a play-money prediction market. Points, "
            "shares and probabilities are numbers; amounts are exact to 4 decimals. Times are "
            'ISO 8601 in UTC. Errors are {"error": {"code", "message"}}; checks run in the '
            "order 400/413, 401, 403/404, 422, 409.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "responses": {
                f"E{code}": {
                    "description": text,
                    "content": {"application/json": {"schema": _ref("Error")}},
                }
                for code, text in ERROR_TEXT.items()
            },
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token from your profile page or `forecast token "
                    "create NAME`",
                }
            },
        },
    }
