"""The console in a real headless browser: Debian's chromium and chromium-driver
(``scripts/install-system-packages.sh``), driven by selenium; nothing is
downloaded at run time.

Without them this folder is left out (deselected) with one reason line in the
summary; ``VOICEAI_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns that into a
failure. ``VOICEAI_CONSOLE_SCREENSHOTS=DIR`` saves a PNG of each page the tests
visit (``scripts/console-screenshots.sh``).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
from summaries import add_summary

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("VOICEAI_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("VOICEAI_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRE_ENV = "VOICEAI_REQUIRE_BROWSER"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900", "--autoplay-policy=no-user-gesture-required",
)
_SKIPPED: list[str] = []


def browser_missing() -> Optional[str]:
    """None when chromium, its driver and selenium are installed; else what is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (pip install -e '.[test]')")
    return ", ".join(missing) or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if Path(str(item.fspath)).is_relative_to(HERE)]
    missing = browser_missing() if ours else None
    if missing is None or os.environ.get(REQUIRE_ENV, "") in ("1", "true", "yes"):
        return  # present, or required: the browser fixture fails with the reason
    items[:] = [item for item in items if item not in ours]
    config.hook.pytest_deselected(items=ours)
    _SKIPPED.append(f"console browser tests not run: missing {missing} [{len(ours)} tests]")


def pytest_sessionfinish(session: pytest.Session) -> None:
    add_summary(session.config, "", _SKIPPED)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = browser_missing()
    if missing is not None:
        pytest.fail(f"{REQUIRE_ENV} is set but the browser is missing: {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    # a Brazilian supervisor's browser (Accept-Language; the login page is in it). Its date
    # fields still read mm/dd/yyyy: Debian's chromium carries only the en-US UI locale
    # without chromium-l10n.
    options.add_experimental_option("prefs", {"intl.accept_languages": "pt-BR,pt"})
    with tempfile.TemporaryDirectory(prefix="voiceai-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(20)
        driver.set_script_timeout(20)
        try:
            yield driver
        finally:
            driver.quit()


def shot(driver: Any, name: str) -> None:
    """Save a screenshot of the current page when VOICEAI_CONSOLE_SCREENSHOTS names a folder."""
    folder = os.environ.get("VOICEAI_CONSOLE_SCREENSHOTS")
    if folder:
        import base64

        Path(folder).mkdir(parents=True, exist_ok=True)
        # the whole page, not only the window (Chrome DevTools protocol)
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        (Path(folder) / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
