"""axe-core in the page (the copy axe-playwright-python ships): what it finds wrong."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

_AXE = Axe()


def axe_violations(page, *, skip: tuple[str, ...] = ()) -> list[str]:
    """The page's axe-core violations as 'rule: where' lines (none when it is clean)."""
    results = _AXE.run(page)
    return [
        f"{v['id']}: {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in results.response["violations"]
        if v["id"] not in skip
    ]


def assert_accessible(page) -> None:
    found = axe_violations(page)
    assert not found, f"axe-core violations on {page.url}: {found}"
