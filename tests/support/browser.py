"""Which Chromium Playwright launches."""
from __future__ import annotations

import os
from pathlib import Path


def chromium_launch_args() -> dict:
    """Playwright's own Chromium where it was installed; Debian's otherwise (this workplace cannot download it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        bundled = Path(p.chromium.executable_path)
    if bundled.exists() or not Path("/usr/bin/chromium").exists():
        return {}
    args = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    if os.geteuid() == 0:
        args.insert(0, "--no-sandbox")
    return {"executable_path": "/usr/bin/chromium", "args": args}
