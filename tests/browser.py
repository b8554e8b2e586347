"""Debian's Chromium driven by Playwright, for the browser tests: skipped locally when
either is missing, failed under CI (.ci/run installs chromium)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .servers import require

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a playwright Browser), closed at the end."""
    if not os.path.exists(CHROMIUM) and shutil.which("chromium") is None:
        require("chromium", "apt-get install -y chromium (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("playwright", "pip install -e '.[dev]'")
    with sync_playwright() as p:
        found = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
        browser = p.chromium.launch(executable_path=found, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
