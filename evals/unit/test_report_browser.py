"""The rendered report as a reader sees it: a real headless Chromium (Debian's, driven by
playwright) loads ``claims.html`` without console errors, every figure decodes, and the claims'
cases open and close. Skips, with its reason, where playwright or Chromium is missing (``.ci/run``
installs both)."""

import shutil

import numpy as np
import pytest

from amx.claims import renderers
from amx.report import write_html
from amx.report.figures import encode
from evals.unit.test_report import _results

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed: pip install -e '.[dev]'")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As root, and with no network: no sandbox, no background connections.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def _with_fig1(results: dict) -> dict:
    """Fig 1's data for two models, two methods and one image with two boxes."""
    rng = np.random.default_rng(0)
    maps = {m: {k: {"5": encode(rng.integers(0, 255, (16, 16)))} for k in ("gradient", "gradcam")}
            for m in ("resnet-a", "resnet-b")}
    results["figures"]["001"]["fig1_heatmaps"] = {
        "size": 16, "models": ["resnet-a", "resnet-b"], "methods": ["gradient", "gradcam"],
        "images": {"5": encode(rng.integers(0, 255, (16, 16, 3)))},
        "boxes": {"5": [[1, 2, 6, 9], [8, 8, 15, 15]]}, "maps": maps}
    return results


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH: apt-get install chromium")
def test_the_report_loads_without_errors_and_every_figure_decodes(tmp_path):
    path = write_html(_with_fig1(_results()), tmp_path / "claims.html", renderers())
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(path.as_uri(), wait_until="load")
            figures = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
            assert len(figures) == 6 and all(decoded for _, decoded in figures), figures  # Figs 1-6
            assert errors == []
            first = page.locator("details").first
            case = page.get_by_text("P1[gradient-pointing_game-alexnet]", exact=True)
            assert first.evaluate("d => d.open") is False and not case.is_visible()  # collapsed
            first.locator("summary").click()
            assert first.evaluate("d => d.open") is True and case.is_visible()
            page.screenshot(path=str(tmp_path / "claims.png"), full_page=True)
        finally:
            browser.close()
