"""`srrepro compare`: every section of the offline report, numbers from the store, the crop
region where the methods disagree most, SR folders, and user checkpoints in `reproduce`."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.cli import main
from bench.compare import disagreement_window, parse_crop, parse_pairs
from bench.errors import SRReproError
from tests.conftest import DATA, needs_data
from tests.pages_fixtures import comparison  # noqa: F401  (session fixture)


def test_disagreement_window_finds_the_region_that_differs() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    other = base.copy()
    other[22:30, 31:39] = 255 - other[22:30, 31:39]  # methods differ only here
    x, y, score = disagreement_window([base, base.copy(), other], 8)
    assert (x, y) == (31, 22) and score > 0
    # a disagreement in the unscored border is not chosen when a margin is kept
    edge = base.copy()
    edge[:3, :3] = 255 - edge[:3, :3]
    assert disagreement_window([base, edge], 3)[:2] == (0, 0)
    x, y, _ = disagreement_window([base, edge], 3, margin=3)
    assert x >= 3 and y >= 3
    # the integral-image score equals the brute-force window mean everywhere
    a, b = rng.random((12, 9, 3)) * 255, rng.random((12, 9, 3)) * 255
    luma = lambda s: 0.299 * s[..., 0] + 0.587 * s[..., 1] + 0.114 * s[..., 2]  # noqa: E731
    std = np.stack([luma(a), luma(b)]).std(0)
    brute = max((std[j:j + 4, i:i + 4].mean(), i, j) for j in range(9) for i in range(6))
    x, y, score = disagreement_window([a, b], 4)
    assert (x, y) == (brute[1], brute[2]) and score == pytest.approx(brute[0])


def test_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(SRReproError, match="expected x,y,w,h"):
        parse_crop("1,2,3")
    with pytest.raises(SRReproError, match="expected x, y >= 0"):
        parse_crop("1,2,3,3")
    with pytest.raises(SRReproError, match="expected NAME=VALUE"):
        parse_pairs(["edsr"], "--weights")
    assert parse_pairs(["a=b=c.pt"], "--weights") == {"a": "b=c.pt"}


def test_compare_refuses_duplicates_unknown_metrics_and_stray_weights(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.metric_info import evaluator_metrics

    base = ["--dataset", "set5", "--scale", "4", "--data-root", str(tmp_path / "none"),
            "--results-dir", str(tmp_path)]
    assert main(["compare", "--methods", "bicubic,bicubic", *base]) == 2
    assert "expected distinct names" in capsys.readouterr().err
    assert main(["compare", "--methods", "bicubic,edsr", "--weights", "drn-s=x.pt", *base]) == 2
    assert "--weights for drn-s" in capsys.readouterr().err
    if "madeup" not in evaluator_metrics():
        assert main(["compare", "--methods", "bicubic,edsr", "--metrics", "madeup", *base]) == 2
        assert "--metrics madeup: not available in this build" in capsys.readouterr().err


def _b64_images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_report_has_every_section_and_is_self_contained(comparison: dict[str, Any]) -> None:  # noqa: F811
    html = comparison["html"].read_text()
    for section in ("<h2>Summary</h2>", "<h2>Per image</h2>", "<h2>Plots</h2>",
                    "<h2>Zoomed region</h2>"):
        assert section in html
    for title in ("PSNR vs #params", "PSNR vs speed", "PSNR over the images",
                  "SSIM over the images"):
        assert f'alt="{title}"' in html
    images = _b64_images(html)
    # 4 plots + overview + GT + 3 methods, all real PNGs
    assert len(images) == 9 and all(i.startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert not re.search(r'(src|href)="https?:', html) and "<link" not in html
    assert "addEventListener" in html  # the per-image table sorts in the page


def test_report_numbers_are_the_stored_ones(comparison: dict[str, Any]) -> None:  # noqa: F811
    comp = comparison["comp"]
    html = comparison["html"].read_text()
    for e in comp.entries:
        stored = json.loads((Path(e.summary["result_dir"]) / "summary.json").read_text())
        assert stored["psnr"] == e.summary["psnr"]
        row = re.search(rf'<tr data-method="{e.label}">(.*?)</tr>', html, re.S).group(1)
        assert f"{stored['psnr']:.3f}" in row and f"{stored['ssim']:.4f}" in row
    per_image = html.split('id="per-image"')[1].split("</table>")[0]
    assert per_image.count("<tr>") == 1 + 5  # header + Set5
    baby = comp.entries[1].summary["rows"][0]
    assert baby["image"] == "baby.png" and f'data-value="{baby["psnr"]}"' in per_image
    # parameter counts of the built models; bicubic is parameter-free
    params = {e.label: e.params for e in comp.entries}
    assert params["bicubic"] == 0 and params["drn-s"] == 4804065
    # random weights are far from bicubic: the crop is where they disagree
    assert comp.entries[0].summary["psnr"] > comp.entries[1].summary["psnr"] + 5


def test_a_second_report_reuses_stored_numbers_and_sr_images(comparison: dict[str, Any]) -> None:  # noqa: F811
    """No network runs again: results come from the store, SR images from beside it."""
    from bench.compare import compare
    from bench.protocol import get_protocol

    comp, _ = compare(["bicubic", "edsr-baseline", "drn-s"], "set5", 4, comparison["weights"],
                      protocol=get_protocol("matlab-y-gray3"), data_root=DATA,
                      results_dir=comparison["results"], progress=False)
    assert all(e.summary["reused"] for e in comp.entries)
    assert [e.summary["psnr"] for e in comp.entries] == [
        e.summary["psnr"] for e in comparison["comp"].entries]
    assert comp.crop["image"] == comparison["comp"].crop["image"]
    cached = sorted((comparison["results"] / "sr-images").glob("*/*/set5/x4/*/*.png"))
    assert len(cached) == 3 * 5  # bicubic and the two networks, Set5


def test_crop_tiles_show_the_same_region(comparison: dict[str, Any]) -> None:  # noqa: F811
    from io import BytesIO

    from PIL import Image

    tiles, region = comparison["tiles"], comparison["comp"].crop
    assert region["chosen"] == "largest disagreement" and region["w"] == region["h"]
    sizes = {Image.open(BytesIO(base64.b64decode(t["png"]))).size for t in tiles}
    assert len(sizes) == 1 and [t["label"] for t in tiles] == [
        "HR (ground truth)", "bicubic", "edsr-baseline", "drn-s"]


@needs_data
def test_sr_dir_and_user_crop_from_the_command_line(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Bicubic SR images saved by one run and scored as a folder give the same numbers."""
    sr = tmp_path / "sr"
    assert main(["eval", "--method", "bicubic", "--dataset", "set5", "--scale", "4", "--data-root",
                 str(DATA), "--results-dir", str(tmp_path / "r"), "--save-sr", str(sr),
                 "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "cmp.html"
    rc = main(["compare", "--methods", "bicubic", "--sr-dir", f"elsewhere={sr}", "--dataset",
               "set5", "--scale", "4", "--crop", "10,20,32,32", "--crop-image", "baby.png",
               "--data-root", str(DATA), "--results-dir", str(tmp_path / "r"), "--out", str(out),
               "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0, text
    psnr = re.findall(r"PSNR (\d+\.\d+)", text)
    assert len(psnr) == 2 and psnr[0] == psnr[1]
    html = out.read_text()
    assert "baby.png, x=10, y=20, 32×32 HR pixels" in html and "given by the user" in html
    assert "(SR folder)" in html
    rc = main(["compare", "--methods", "bicubic", "--sr-dir", f"x={sr}", "--dataset", "set5",
               "--scale", "4", "--crop", "500,500,32,32", "--crop-image", "baby.png",
               "--data-root", str(DATA), "--results-dir", str(tmp_path / "r"), "--quiet"])
    assert rc == 2 and "outside baby.png" in capsys.readouterr().err
    assert main(["compare", "--methods", "bicubic", "--dataset", "set5", "--scale", "4",
                 "--data-root", str(DATA), "--results-dir", str(tmp_path / "r"), "--quiet"]) == 2
    assert "at least two" in capsys.readouterr().err


def test_reproduce_uses_a_users_checkpoint_and_check_judges_it(
        comparison: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """A row that needs training takes the user's checkpoint; the weights are bound to the
    row so `check` judges exactly that result (random weights: a drift, as it should be)."""
    res = comparison["results"]
    ckpt = comparison["weights"]["drn-s"]
    rc = main(["reproduce", "drn2020-table1", "--datasets", "set5", "--scales", "4",
               "--no-sensitivity", "--checkpoint", f"DRN-S@x4={ckpt}", "--data-root", str(DATA),
               "--results-dir", str(res), "--out", str(tmp_path / "t1"), "--quiet"])
    assert rc == 0
    cells = {(c["label"], c["dataset"], c["scale"], c["metric"]): c
             for c in json.loads((tmp_path / "t1" / "table.json").read_text())["cells"]}
    drn = cells[("DRN-S", "set5", 4, "psnr")]
    stored = next(e for e in comparison["comp"].entries if e.label == "drn-s").summary
    assert drn["reproduced"] == pytest.approx(stored["psnr"]) and drn["status"] == "drift"
    assert cells[("DRN-L", "set5", 4, "psnr")]["reproduced"] is None  # not given: not shown
    assert (res / "bindings" / "drn2020-table1.json").exists()
    capsys.readouterr()
    rc = main(["check", "drn2020-table1", "--rows", "drn-s", "--datasets", "set5", "--scales",
               "4", "--results-dir", str(res)])
    assert rc == 1 and "FAIL drn2020-table1 DRN-S set5 x4 psnr" in capsys.readouterr().out


def test_reproduce_picks_up_a_finished_training_run(
        comparison: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    """`srrepro train drn-s-x4` leaves runs/drn-s-x4/final.pt: reproduce uses it for the
    DRN-S x4 row without being told (here: the random DRN-S weights in that place)."""
    import shutil

    runs = tmp_path / "runs"
    (runs / "drn-s-x4").mkdir(parents=True)
    shutil.copy(comparison["weights"]["drn-s"], runs / "drn-s-x4" / "final.pt")
    rc = main(["reproduce", "drn2020-table1", "--datasets", "set5", "--scales", "4",
               "--no-sensitivity", "--runs-dir", str(runs), "--data-root", str(DATA),
               "--results-dir", str(comparison["results"]), "--out", str(tmp_path / "t1"),
               "--quiet"])
    assert rc == 0
    cells = {(c["label"], c["dataset"], c["scale"], c["metric"]): c
             for c in json.loads((tmp_path / "t1" / "table.json").read_text())["cells"]}
    stored = next(e for e in comparison["comp"].entries if e.label == "drn-s").summary
    assert cells[("DRN-S", "set5", 4, "psnr")]["reproduced"] == pytest.approx(stored["psnr"])
    assert cells[("DRN-L", "set5", 4, "psnr")]["reproduced"] is None


@needs_data
def test_compare_with_the_builds_extra_metrics(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Metrics beyond PSNR/SSIM (here gradient PSNR, lower-is-better NIQE) get their summary
    columns, per-image columns and distribution plots."""
    from bench.metric_info import evaluator_metrics, unavailable_here

    wanted = ["grad_psnr", "niqe"]
    if not set(wanted) <= evaluator_metrics() or unavailable_here(wanted):
        pytest.skip(f"this build cannot compute {wanted} here: {unavailable_here(wanted)}")
    sr = tmp_path / "sr"
    assert main(["eval", "--method", "bicubic", "--dataset", "set5", "--scale", "4", "--data-root",
                 str(DATA), "--results-dir", str(tmp_path), "--save-sr", str(sr), "--quiet"]) == 0
    out = tmp_path / "cmp.html"
    assert main(["compare", "--methods", "bicubic", "--sr-dir", f"copy={sr}", "--metrics",
                 ",".join(wanted), "--dataset", "set5", "--scale", "4", "--data-root", str(DATA),
                 "--results-dir", str(tmp_path), "--out", str(out), "--quiet"]) == 0
    html = out.read_text()
    assert "<th>Gradient PSNR</th>" in html and "<th>NIQE\u2193</th>" in html
    assert 'alt="NIQE over the images"' in html and 'alt="Gradient PSNR over the images"' in html
    assert "(NIQE: lower is better)" in html
    # one network-like entry has #params and a timing: no one-point trade-off plots
    assert 'alt="PSNR vs #params"' not in html and 'alt="PSNR vs speed"' not in html


def test_params_of_a_trained_checkpoint_are_those_of_its_own_architecture(tmp_path: Path) -> None:
    """A smoke run's final.pt is narrower than the paper model: the report's #params (and the
    PSNR-vs-#params plot) must count the model that made the numbers, not the card's."""
    import torch

    import methods
    from bench.cells import param_count
    from methods.weights import TRAINED_FORMAT

    args = {"n_resblocks": 2, "n_feats": 8}
    small = methods.create("edsr-baseline", scale=4, **args)
    path = tmp_path / "final.pt"
    torch.save({"format": TRAINED_FORMAT, "method": "edsr-baseline", "scale": 4,
                "model_args": args, "state_dict": small.state_dict()}, path)
    assert param_count("edsr-baseline", 4, str(path)) == methods.count_params(small)
    assert param_count("edsr-baseline", 4) == 1_517_595  # the paper configuration, built
    assert param_count("edsr-baseline", 4, str(path)) < 100_000
