"""axe-core in the page: what it finds wrong.

axe-core is vendored from its npm package (``npm pack axe-core@4.14.1``, its
axe.min.js and LICENSE, MPL-2.0) in tests/browser/vendor/, so the checks run
offline.  The page's Content-Security-Policy allows no injected script, so the
browser context that runs them is made with ``bypass_csp=True``.
"""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).with_name("vendor") / "axe-4.14.1.min.js"


def axe_violations(page, *, skip: tuple[str, ...] = ()) -> list[str]:
    """The page's axe-core violations as 'rule: where' lines (none when it is clean)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']}: {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in violations
        if v["id"] not in skip
    ]


def assert_accessible(page) -> None:
    found = axe_violations(page)
    assert not found, f"axe-core violations on {page.url}: {found}"


_TOO_WIDE = """() => {
  const w = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > w + 1 && r.width > 0) {
      // Inside a box that scrolls sideways by itself is fine, unless positioned out of it.
      let clipped = getComputedStyle(el).position !== 'absolute' && getComputedStyle(el).position !== 'fixed';
      if (clipped) {
        clipped = false;
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
          if (getComputedStyle(p).overflowX !== 'visible') { clipped = true; break; }
        }
      }
      if (!clipped) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
        (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
        ' right=' + Math.round(r.right));
    }
  }
  return out.slice(0, 8);
}"""


def assert_fits(page) -> None:
    """No sideways scrolling: the page is no wider than the viewport (Chromium's
    document.documentElement.scrollWidth), naming what sticks out when it is."""
    width = page.evaluate("document.documentElement.clientWidth")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll} px wide at {width}: {page.evaluate(_TOO_WIDE)}"
