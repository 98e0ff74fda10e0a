"""Page or fragment: the one place that reads the HX-Request header (contact-app style).

A URL serves its full page to a browser and just the partial to htmx; the
page template ``{% include %}``s the same partial, so both share one template.
"""

from __future__ import annotations

from flask import Response, make_response, render_template, request


def is_htmx() -> bool:
    """True for an htmx request that swaps a fragment.

    History restores and boosted links want the whole page, even though
    htmx marks them with HX-Request too.
    """
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
        and request.headers.get("HX-Boosted") != "true"
    )


def render(page: str, fragment: str, /, *, status_code: int = 200, **context) -> Response:
    """Render ``fragment`` for htmx and ``page`` otherwise, with the same context.

    The two template names are positional-only, so a context variable may be
    called ``page`` or ``fragment`` (a leaderboard's page number, say).
    """
    response = make_response(
        render_template(fragment if is_htmx() else page, **context), status_code
    )
    # One URL, two bodies: caches must keep them apart.
    response.vary.add("HX-Request")
    return response
