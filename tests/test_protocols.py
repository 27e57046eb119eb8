"""The protocol choices the literature varies, and `srrepro protocols` (one SR pass per LR
input, scored under every protocol)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.sources import ModelSource
from bench.cli import main
from bench.errors import ProtocolError
import bench.evaluate as evaluate_module
from bench.evaluate import EvalRequest, evaluate, evaluate_protocols
from bench.protocol import DEFAULT, PROTOCOLS, get_protocol
from bench.sensitivity import applicable
from tests.conftest import DATA, needs_data
from tests.reference import matlab_numpy as ref

# Literature bicubic rows (shared/datasets/README.md) and what the Y-first pipeline of the
# early MATLAB scripts gives here (measured; regression goldens)
LITERATURE = {("set5", 2): (33.66, 0.9299), ("set5", 3): (30.39, 0.8682),
              ("set5", 4): (28.42, 0.8104), ("b100", 2): (29.56, 0.8431),
              ("b100", 3): (27.21, 0.7385), ("b100", 4): (25.96, 0.6675)}


def test_protocol_fields_are_validated() -> None:
    for bad in ({"pipeline": "y-first", "channel": "rgb"}, {"pipeline": "y-first", "lr_resize": "pil-bicubic"},
                {"pipeline": "diagonal"}, {"lr_resize": "lanczos"}, {"border": "scale+x"},
                {"border": "scale-2"}, {"border": -1}, {"ssim_channel": "y"}):
        with pytest.raises(ProtocolError):
            dataclasses.replace(DEFAULT, **bad)
    p = dataclasses.replace(DEFAULT, border="scale+6")
    assert p.crop(4) == 10 and p.crop(2) == 8 and dataclasses.replace(DEFAULT, border=0).crop(4) == 0


def test_lr_signature_groups_protocols_that_share_an_sr_pass() -> None:
    groups = {p.lr_signature() for p in PROTOCOLS.values()}
    assert len(groups) == 5  # MATLAB RGB-first, PIL RGB-first, MATLAB Y-first, Nearest LR, BD LR
    assert get_protocol("matlab-y-border0").lr_signature() == DEFAULT.lr_signature()
    assert get_protocol("matlab-y-pil").lr_signature() != DEFAULT.lr_signature()


@needs_data
@pytest.mark.parametrize("dataset,scale", sorted(LITERATURE))
def test_y_first_pipeline_reproduces_the_literature_rows(dataset: str, scale: int, tmp_path: Path) -> None:
    """The claim the protocol's description makes: Set5 and B100 x2-x4 within 0.003 dB and
    0.00012 SSIM of the printed rows (the default RGB-first protocol: up to 0.011 dB off)."""
    r = evaluate(EvalRequest("bicubic", dataset, scale, get_protocol("matlab-y-yfirst")), DATA,
                 tmp_path, progress=False)
    psnr, ssim = LITERATURE[(dataset, scale)]
    assert abs(r["psnr"] - psnr) <= 0.003 and abs(r["ssim"] - ssim) <= 0.00012, (r["psnr"], r["ssim"])


@needs_data
def test_y_first_equals_the_independent_reference(tmp_path: Path) -> None:
    """SRCNN-style: Y of the uint8 HR, resized in double (not quantized), SR rounded."""
    r = evaluate(EvalRequest("bicubic", "set5", 3, get_protocol("matlab-y-yfirst")), DATA,
                 tmp_path, progress=False)
    row = {x["image"]: x for x in r["rows"]}["head.png"]
    hr = np.asarray(Image.open(DATA / "Set5" / "HR" / "head.png")).astype(np.float64).transpose(2, 0, 1)
    hr = hr[:, : hr.shape[1] // 3 * 3, : hr.shape[2] // 3 * 3]
    y = ref.rgb2ycbcr_y(hr)
    sr = ref.to_uint8_values(ref.imresize(ref.imresize(y, scale=1 / 3), scale=3))
    assert row["psnr"] == pytest.approx(ref.psnr(sr, y, crop_border=3), abs=1e-9)
    assert row["ssim"] == pytest.approx(ref.ssim(sr, y, crop_border=3), abs=1e-9)


def test_y_first_is_refused_for_networks(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="parameter-free method such as bicubic, found edsr"):
        evaluate(EvalRequest("edsr", "set5", 4, get_protocol("matlab-y-yfirst")), DATA, tmp_path)
    assert all(p.pipeline != "y-first" for p in applicable("edsr"))
    assert any(p.pipeline == "y-first" for p in applicable("bicubic"))


@needs_data
def test_pil_lr_is_pillows_bicubic(tmp_path: Path) -> None:
    """PIL LR generation, checked with Pillow itself on the file (independent path)."""
    r = evaluate(EvalRequest("bicubic", "set5", 4, get_protocol("matlab-y-pil")), DATA, tmp_path,
                 progress=False)
    from methods.imresize import imresize

    im = Image.open(DATA / "Set5" / "HR" / "bird.png")
    lr = np.asarray(im.resize((im.width // 4, im.height // 4), Image.BICUBIC)).astype(np.float64)
    sr = ref.to_uint8_values(imresize(torch.from_numpy(lr.transpose(2, 0, 1).copy()), scale=4).numpy())
    hr = np.asarray(im).astype(np.float64).transpose(2, 0, 1)
    expected = ref.psnr(ref.rgb2ycbcr_y(sr), ref.rgb2ycbcr_y(hr), crop_border=4)
    assert {x["image"]: x for x in r["rows"]}["bird.png"]["psnr"] == pytest.approx(expected, abs=1e-9)


@needs_data
def test_one_pass_scores_every_protocol_exactly_as_separate_runs(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = ModelSource.sr

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(ModelSource, "sr", counting)
    # counted in this process: keep the image pool in threads (forked workers count apart)
    monkeypatch.setattr(evaluate_module, "FORK_MIN_IMAGES", 10 ** 6)
    protocols = applicable("bicubic")
    together = evaluate_protocols(EvalRequest("bicubic", "set14", 4), protocols, DATA,
                                  tmp_path / "one", progress=False)
    assert calls["n"] == 14 * 3  # one SR pass per image and distinct LR input, not 14 x 10
    monkeypatch.setattr(ModelSource, "sr", real)
    for p, r in zip(protocols, together):
        alone = evaluate(EvalRequest("bicubic", "set14", 4, p), DATA, tmp_path / "sep", progress=False)
        assert [x["image"] for x in r["rows"]] == [x["image"] for x in alone["rows"]]
        assert r["psnr"] == pytest.approx(alone["psnr"], abs=1e-12), p.id
        assert r["ssim"] == pytest.approx(alone["ssim"], abs=1e-12), p.id
        assert r["protocol"] == p.id
    by = {p.id: r for p, r in zip(protocols, together)}
    # border 0 vs scale, SSIM on RGB with PSNR on Y: each moves only what it should
    assert by["matlab-y-ssim-rgb@1"]["psnr"] == by["matlab-y@1"]["psnr"]
    assert by["matlab-y-ssim-rgb@1"]["ssim"] == pytest.approx(by["rgb@1"]["ssim"], abs=1e-12)
    assert by["matlab-y-border0@1"]["psnr"] != by["matlab-y@1"]["psnr"]
    # and a second call reuses all ten stored results
    again = evaluate_protocols(EvalRequest("bicubic", "set14", 4), protocols, DATA, tmp_path / "one",
                               progress=False)
    assert all(r["reused"] for r in again)


@needs_data
def test_protocols_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocols", "--method", "bicubic", "--dataset", "set5", "--scale", "2",
                 "--data-root", str(DATA), "--results-dir", str(tmp_path), "--quiet",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = {r["protocol"]: r for r in doc["protocols"]}
    # other degradations (Nearest/BD LR) are another task, not a way to score bicubic LR
    assert set(rows) == {p.id for p in PROTOCOLS.values()} - {"matlab-y-nearest@1", "matlab-y-bd@1"}
    assert rows["matlab-y@1"]["delta_psnr"] == 0 and rows["matlab-y@1"]["differs_from_default"] == {}
    assert rows["matlab-y-yfirst@1"]["differs_from_default"] == {"pipeline": "y-first",
                                                                  "lr_quantize": False}
    assert abs(rows["matlab-y-yfirst@1"]["psnr"] - 33.66) < abs(rows["matlab-y@1"]["psnr"] - 33.66)
    assert main(["protocols", "--method", "bicubic", "--dataset", "set5", "--scale", "2",
                 "--data-root", str(DATA), "--results-dir", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "matlab-y-border-s6@1" in out and "border=scale+6" in out
