"""Page or fragment: the one place that reads the HX-Request header (contact-app style).

A URL serves its full page to a browser and just the partial to htmx; the
page template ``{% include %}``s the same partial, so both share one template.
And ``kept``: what pages keep drawn or read between views.
"""

from __future__ import annotations

from collections import OrderedDict

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


def kept(store: OrderedDict, limit: int, key: tuple, draw, fresh=None):  # noqa: ANN001, ANN201
    """``store[key]``, made by ``draw()`` when missing (or when ``fresh(kept value)`` says
    it no longer holds); ``store`` keeps the ``limit`` last used.

    What a page keeps drawn or read (a chart, a table, comments) between views in
    this process: the key holds everything the value depends on, or ``fresh`` checks
    the rest.
    """
    if (hit := store.get(key)) is not None and (fresh is None or fresh(hit)):
        store.move_to_end(key)
        return hit
    hit = store[key] = draw()
    store.move_to_end(key)
    while len(store) > limit:
        store.popitem(last=False)
    return hit
