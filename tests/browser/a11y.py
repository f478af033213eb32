"""axe-core (vendored by axe-playwright-python: injected into the page, nothing downloaded)
over a page; the impacts a page must not have, and a screenshot of what was checked."""

from __future__ import annotations

import os
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

BLOCKING = ("serious", "critical")
EVERY_IMPACT = ("minor", "moderate", "serious", "critical")
_axe = Axe()


def audit(page, name: str, shots: Path, blocking: tuple[str, ...] = BLOCKING) -> list[str]:
    """Run axe on the page as it is now; one line per violation of an impact in `blocking`
    (serious or critical, unless a page is held to more)."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    results = _axe.run(page, options={"resultTypes": ["violations"]}).response
    found = []
    for violation in results["violations"]:
        if violation["impact"] in blocking:
            targets = "; ".join(", ".join(n["target"]) for n in violation["nodes"][:5])
            found.append(f"{name}: {violation['id']} ({violation['impact']}): "
                         f"{violation['help']} at {targets}")  # fmt: skip
    return found


def screenshot_dir(default: Path) -> Path:
    """Where page screenshots go: BOTTEGA_SCREENSHOTS if set, else `default`."""
    path = Path(os.environ.get("BOTTEGA_SCREENSHOTS") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path
