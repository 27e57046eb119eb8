"""The pages as a reader sees them: a reproduce page, the index and a comparison report
rendered by headless Chromium; the screenshot is not blank and the DOM holds the cells."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.pages_fixtures import bicubic_all, comparison  # noqa: F401  (session fixtures)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed: run `make setup` (Debian: "
                             "apt-get install -y chromium) to run the browser tests")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--allow-file-access-from-files"]


def _screenshot(page: Path, png: Path, size: str = "1400,1400") -> np.ndarray:
    from PIL import Image

    subprocess.run([CHROMIUM, *FLAGS, f"--window-size={size}", f"--screenshot={png}",
                    page.as_uri()], capture_output=True, timeout=180, check=True)
    return np.asarray(Image.open(png).convert("L"), dtype=np.float64)


def _dom_url(url: str) -> str:
    return subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", url], capture_output=True,
                          text=True, timeout=180, check=True).stdout


def _dom(page: Path) -> str:
    return _dom_url(page.as_uri())


def _not_blank(pixels: np.ndarray) -> None:
    assert pixels.std() > 10, "screenshot is (nearly) one colour"
    assert (pixels < 128).mean() > 0.005, "screenshot has (almost) no dark pixels: no text"


def test_reproduce_page_in_chromium(bicubic_all: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    page = bicubic_all["out"] / "drn2020-table1" / "index.html"
    _not_blank(_screenshot(page, tmp_path / "table.png"))
    dom = _dom(page)
    # the bicubic Set5 x4 cell: published 28.42, reproduced 28.419, within tolerance
    cell = dom.split('data-cell="Bicubic|set5|4|psnr"')[1].split("</td>")[0]
    assert "28.42" in cell and "28.419" in cell and 'class="ok"' in cell
    assert 'data-cell="DRN-L|set5|4|psnr"' in dom and "<h3>Notes</h3>" in dom
    index = bicubic_all["out"] / "index.html"
    _not_blank(_screenshot(index, tmp_path / "index.png", "1300,900"))
    assert 'data-table="esrgandp-table5"' in _dom(index)


def test_comparison_report_in_chromium(comparison: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    pixels = _screenshot(comparison["html"], tmp_path / "compare.png", "1300,2600")
    _not_blank(pixels)
    # the plots and crops are drawn: the lower half of the page is not empty either
    _not_blank(pixels[pixels.shape[0] // 2:])
    dom = _dom(comparison["html"])
    for label in ("bicubic", "edsr-baseline", "drn-s"):
        assert f'data-method="{label}"' in dom
    assert dom.count('class="tile"') == 4 and dom.count("data:image/png;base64,") == 9
    # the page's script runs: sorted by bicubic PSNR (column 1), ascending then descending
    rows = comparison["comp"].entries[0].summary["rows"]
    by_psnr = [r["image"] for r in sorted(rows, key=lambda r: r["psnr"])]
    for suffix, order in (("#sort=1", by_psnr), ("#sort=-1", by_psnr[::-1])):
        page = _dom_url(comparison["html"].as_uri() + suffix)
        table = page.split('id="per-image"')[1].split("</table>")[0]
        assert re.findall(r'<td class="l">([^<]+)</td>', table) == order
