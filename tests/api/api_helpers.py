"""Helpers for the API tests: a JSON client with a bearer token, and the error shape."""

from __future__ import annotations


class Api:
    """The Flask test client speaking JSON with an optional bearer token."""

    def __init__(self, client, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def as_(self, token: str | None) -> Api:
        return Api(self.client, token)

    def _headers(self, headers: dict | None) -> dict:
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**h, **(headers or {})}

    def get(self, path: str, **kw):
        return self.client.get(
            "/api/v1" + path, headers=self._headers(kw.pop("headers", None)), **kw
        )

    def post(self, path: str, json=None, **kw):
        headers = self._headers(kw.pop("headers", None))
        if json is not None:
            kw["json"] = json
        return self.client.post("/api/v1" + path, headers=headers, **kw)

    def delete(self, path: str, **kw):
        return self.client.delete(
            "/api/v1" + path, headers=self._headers(kw.pop("headers", None)), **kw
        )


def error_code(resp) -> str:
    body = resp.get_json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return body["error"]["code"]
