"""A real headless Chromium for the tests, driven by Playwright (PyPI) using the system browser.

Playwright's own browser download is never used: the tests drive Debian's ``chromium``
(``/usr/bin/chromium``, or the path in ``NABLAGRAPH_CHROMIUM``).  When no browser is
present the tests that need one skip with the reason; ``.ci/run`` installs it when CI
runs as root, so CI exercises them.

Every page opened through :class:`Browser` records what the page asked the network
for and what it printed to the console, so a test can assert "no request left the
file" and "no console error".
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Flags for a sandboxed, offline machine: without the background-networking ones,
# Chromium tries to reach its update and sync services at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """The system Chromium to drive, or ``None`` when there is none."""
    explicit = os.environ.get("NABLAGRAPH_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """A Playwright page plus what it requested and printed."""

    page: Any
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions, in order."""
        return [text for kind, text in self.console if kind in ("error", "pageerror")]

    def external_requests(self, allowed: tuple[str, ...] = ("file://", "data:", "blob:",
                                                          "about:")) -> list[str]:
        """Requests that went anywhere but the local file (or inline data)."""
        return [url for url in self.requests if not url.startswith(allowed)]


class Browser:
    """One headless Chromium; :meth:`open` gives a fresh recorded page."""

    def __init__(self, playwright: Any, executable: str) -> None:
        self._browser = playwright.chromium.launch(executable_path=executable,
                                                   args=CHROMIUM_ARGS, headless=True)

    @contextmanager
    def open(self, target: str | Path, *, width: int = 1280, height: int = 860) -> Iterator[Page]:
        """Open ``target`` (a path or URL) in a new page, recording requests and console."""
        context = self._browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        recorded = Page(page)
        page.on("request", lambda request: recorded.requests.append(request.url))
        page.on("console", lambda message: recorded.console.append((message.type, message.text)))
        page.on("pageerror", lambda error: recorded.console.append(("pageerror", str(error))))
        url = Path(target).resolve().as_uri() if isinstance(target, Path) else str(target)
        try:
            page.goto(url)
            yield recorded
        finally:
            context.close()

    def close(self) -> None:
        self._browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium for one test module; skips the test when none is installed.

    Per module, not per session: Playwright's sync API keeps an event loop running in
    the main thread while it is open, and a later test's ``asyncio.run`` (the grad-mode
    tests) would then fail with "cannot be called from a running event loop".
    """
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine (Debian's 'chromium'; .ci/run installs it "
                    "when CI runs as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = Browser(playwright, executable)
        try:
            yield launched
        finally:
            launched.close()
