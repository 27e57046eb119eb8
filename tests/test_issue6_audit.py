"""Issue 6 leftovers: the bullets that had no test of their own.

- "one `--tile-overlap` default": every layer that takes an overlap defaults to the same one;
- "distinct names for distinct cards": no card variable name means two things;
- "comments that match the code (evaluate.py: heavy import only when needed)": a PSNR/SSIM
  evaluation loads none of the heavy libraries;
- README: every main command parses as written and names the data it reads; the exit-code
  table is the one `check` and the CLI use.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT, needs_data


def test_one_tile_overlap_default() -> None:
    from bench.cli import build_parser
    from bench.evaluate import EvalRequest
    from bench.sources import ModelSource
    from methods import inference

    default = inference.DEFAULT_OVERLAP
    for cls in (EvalRequest, ModelSource):
        field = {f.name: f for f in dataclasses.fields(cls)}["tile_overlap"]
        assert field.default == default, cls.__name__
    for fn in (inference.run_model, *[f for _, f in inspect.getmembers(inference, inspect.isfunction)
                                      if "overlap" in inspect.signature(f).parameters]):
        assert inspect.signature(fn).parameters["overlap"].default == default, fn.__name__
    # the CLI leaves the option unset (None -> the request's default) and its help names it
    eval_parser = build_parser()._subparsers._group_actions[0].choices["eval"]  # type: ignore[union-attr]
    action = next(a for a in eval_parser._actions if a.dest == "tile_overlap")
    assert action.default is None and f"{default}" in (action.help or "")


def test_card_variable_names_are_distinct() -> None:
    """Before: ``GRADUNET_CARD`` named the generator in one module and the discriminator in
    another. Every module-level card variable of the zoo now has a name of its own."""
    import methods
    from methods.registry import MethodCard

    owners: dict[str, list[str]] = {}
    for mod_name in sorted(m for m in sys.modules if m.startswith("methods.")):
        for attr, value in vars(sys.modules[mod_name]).items():
            if isinstance(value, MethodCard) and attr.isupper():
                owners.setdefault(attr, []).append(f"{mod_name}:{value.name}")
    assert methods.list_methods(kind=None)  # the family modules are loaded
    shared = {a: o for a, o in owners.items() if len(o) > 1}
    assert not shared, shared
    assert "GRADUNET_CARD" not in owners


@needs_data
def test_psnr_ssim_evaluation_imports_no_heavy_library(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; "
            "from bench.evaluate import EvalRequest, evaluate; "
            f"r = evaluate(EvalRequest('bicubic', 'set5', 4), Path({str(DATA)!r}), "
            f"Path({str(tmp_path)!r}), progress=False); "
            "heavy = ('torchvision', 'lpips', 'pyiqa', 'matplotlib'); "
            "print(round(r['psnr'], 4), sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True).stdout.split("\n")[-2]
    assert out == "28.4189 []"


def _readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Main commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    block = block.replace("\\\n", " ")
    cmds = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("srrepro ") and "|" not in line and "[" not in line:
            cmds.append(shlex.split(line)[1:])
    return cmds


def test_readme_main_commands_parse_and_name_their_data() -> None:
    """Before: the README's second command failed as written (no ``--data-root``)."""
    from bench.cli import build_parser

    cmds = _readme_commands()
    assert len(cmds) >= 10
    for argv in cmds:
        args = build_parser().parse_args(argv)  # a usage error exits 2 and fails the test
        if args.command in ("eval", "protocols", "reproduce"):
            assert "--data-root" in argv, argv
            root = argv[argv.index("--data-root") + 1]
            assert root == "../shared/datasets", argv  # where the README says the data are


def test_readme_exit_codes_are_the_ones_the_cli_uses() -> None:
    from bench import check
    from bench.cli import EXIT_HELP

    text = (ROOT / "README.md").read_text().split("### Exit codes", 1)[1].split("##", 1)[0]
    documented = {int(c) for c in re.findall(r"^\| (\d+) \|", text, re.MULTILINE)}
    assert documented == set(check.EXIT_CODES) | {130}
    assert check.EXIT_USAGE == 2 and check.EXIT_NOTHING not in (0, 1, 2)
    for code in documented:
        assert f"{code} " in EXIT_HELP


def _basicsr_style_y_psnr(sr_png: Path, hr_png: Path, scale: int) -> float:
    """PSNR the way BasicSR scores with ``test_y_channel=True``, written out independently:
    both images read as colour (cv2.IMREAD_COLOR replicates a gray image to three channels),
    Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 kept in float, ``scale`` border pixels
    cropped, MSE in float64 (basicsr/metrics/psnr_ssim.py calculate_psnr, metric_util.py
    to_y_channel, utils/color_util.py bgr2ycbcr)."""
    import numpy as np
    from PIL import Image

    def y(path: Path, crop_to: tuple[int, int] | None = None) -> np.ndarray:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        if crop_to is not None:
            rgb = rgb[:crop_to[0], :crop_to[1]]
        return 16.0 + (rgb @ np.array([65.481, 128.553, 24.966])) / 255.0

    ysr = y(sr_png)
    yhr = y(hr_png, ysr.shape)
    b = scale
    mse = np.mean((ysr[b:-b, b:-b] - yhr[b:-b, b:-b]) ** 2)
    return float(10.0 * np.log10(255.0 ** 2 / mse))


@needs_data
def test_float_y_gray3_is_what_basicsr_measures(tmp_path: Path) -> None:
    """Before: `float-y` (gray images on their gray values) was labelled "BasicSR", but BasicSR
    loads every image as colour: its numbers are `float-y-gray3` (Set14 x4: 26.092 vs 25.997)."""
    import csv

    from bench.evaluate import EvalRequest, evaluate
    from bench.protocol import get_protocol

    def rows(protocol: str, save: Path | None = None) -> tuple[dict, dict[str, float]]:
        r = evaluate(EvalRequest("bicubic", "set14", 4, get_protocol(protocol), save_sr=save),
                     DATA, tmp_path / "res", progress=False)
        with open(Path(r["result_dir"]) / "rows.csv") as f:
            return r, {row["image"]: float(row["psnr"]) for row in csv.DictReader(f)}

    gray3, per_image = rows("float-y-gray3", tmp_path / "sr")
    plain, per_image_plain = rows("float-y")
    for name, value in per_image.items():
        ref = _basicsr_style_y_psnr(tmp_path / "sr" / name, DATA / "Set14" / "HR" / name, 4)
        assert value == pytest.approx(ref, abs=1e-6), name
    assert gray3["psnr"] == pytest.approx(26.0918, abs=1e-4)
    assert plain["psnr"] == pytest.approx(25.9973, abs=1e-4)
    # only the gray image separates the two, by far more than rounding
    differ = [k for k in per_image if abs(per_image[k] - per_image_plain[k]) > 1e-9]
    assert differ == ["bridge.png"] and abs(per_image["bridge.png"] - per_image_plain["bridge.png"]) > 0.5
    assert "BasicSR" in get_protocol("float-y-gray3").description
    assert "BasicSR" not in get_protocol("float-y").description


@pytest.mark.network
@needs_data
def test_fetch_enforces_an_archive_sha256_when_a_release_publishes_one(
        http_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """No benchmark release publishes an archive checksum today (every manifest says so), but
    a manifest ``sources[].sha256`` must be enforced: a different archive leaves nothing."""
    import hashlib
    import os

    from bench.data import datasets as ds
    from bench.errors import DataError
    from tests.test_datasets import EDSR_URL, _set5_members, _tar

    blob = _tar(_set5_members())
    url = http_server.add("/edsr/benchmark.tar", blob)
    text = (ROOT / "datasets" / "set5.yaml").read_text().replace(EDSR_URL, url)
    assert text.count("  sha256: null\n") == 1  # the one source entry

    def use(digest: str) -> None:
        folder = tmp_path / f"manifests-{digest[:8]}"  # own folder: manifests are cached by it
        folder.mkdir()
        (folder / "set5.yaml").write_text(text.replace("  sha256: null\n", f"  sha256: '{digest}'\n"))
        monkeypatch.setenv("SRREPRO_MANIFESTS", str(folder))
        assert ds.get_manifest("set5").sources[0].sha256 == digest

    root = tmp_path / "data"
    use("0" * 64)
    with pytest.raises(DataError, match="sha256"):
        ds.fetch_dataset("set5", root, progress=False, retries=1)
    assert not (root / "Set5").exists()
    assert os.listdir(root / ".downloads") == []
    use(hashlib.sha256(blob).hexdigest())
    assert ds.fetch_dataset("set5", root, progress=False, retries=1) == root / "Set5" / "HR"
    assert ds.verify_dataset("set5", root, progress=False) == 5


def test_manifest_archive_digest_must_be_a_quoted_hex_string(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """YAML turns an unquoted all-digit digest into an int: refused with a one-line fix."""
    from bench.data import datasets as ds
    from bench.errors import DataError

    text = (ROOT / "datasets" / "set5.yaml").read_text()
    (tmp_path / "set5.yaml").write_text(text.replace("  sha256: null\n", f"  sha256: {'0' * 64}\n", 1))
    monkeypatch.setenv("SRREPRO_MANIFESTS", str(tmp_path))
    with pytest.raises(DataError, match="sources.*sha256.*found 0; write the digest as a quoted"):
        ds.get_manifest("set5")
