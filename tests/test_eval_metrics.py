"""`eval --metrics`: extra columns for methods and --sr-dir, keys, unavailable metrics, and
what a PSNR/SSIM-only run imports."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench import cli
from bench.cli import main
from bench.data.images import load_image
from bench.errors import ProtocolError, SRReproError
from bench.evaluate import EvalRequest, evaluate, score_folder
from bench.metrics import suite
from bench.metrics.grad_psnr import grad_psnr
from bench.metrics.lpips import lpips
from bench.metrics.niqe import niqe
from bench.pipeline import to_tensor
from bench.protocol import PERCEPTUAL, PerceptualSpec
from methods import backbones
from methods.download import sha256_file
from tests.conftest import DATA, ROOT, needs_data

EXTRA = ("psnr", "ssim", "niqe", "grad_psnr")


@pytest.fixture(autouse=True)
def _no_model_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    for var in ("SRREPRO_BACKBONES", "SRREPRO_IQA_MODELS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def plain_and_extra(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    if not (DATA / "Set5").is_dir():
        pytest.skip(f"benchmark images not found at {DATA}")
    root = tmp_path_factory.mktemp("evm")
    plain = evaluate(EvalRequest("bicubic", "set5", 4), DATA, root / "res", progress=False)
    extra = evaluate(EvalRequest("bicubic", "set5", 4, metrics=EXTRA, save_sr=root / "sr"),
                     DATA, root / "res", progress=False)
    return plain, extra, root


def test_metric_names() -> None:
    assert cli.METRIC_NAMES == suite.ALL
    assert suite.parse_metrics("grad_psnr, LPIPS,psnr") == ("psnr", "lpips", "grad_psnr")
    with pytest.raises(SRReproError, match="psnr, ssim, lpips"):
        suite.parse_metrics("psnr,fid")


def test_perceptual_spec_fields_are_validated_and_fingerprinted() -> None:
    assert PERCEPTUAL.lpips_net == "alex" and PERCEPTUAL.noref_border == 4
    assert PERCEPTUAL.lpips_crop(4) == 0 and PerceptualSpec(lpips_border="scale").lpips_crop(4) == 4
    assert PerceptualSpec(lpips_net="vgg").fingerprint != PERCEPTUAL.fingerprint
    for bad in ({"lpips_net": "squeeze"}, {"noref_channel": "rgb"}, {"noref_border": -1},
                {"lpips_border": "s+6"}):
        with pytest.raises(ProtocolError):
            PerceptualSpec(**bad)
    # the grad-PSNR definition recorded is the one the code implements
    from bench.metrics.grad_psnr import GRAD_PSNR_DEFINITION

    assert PERCEPTUAL.grad_psnr == GRAD_PSNR_DEFINITION


@pytest.mark.shared
@needs_data
def test_extra_columns_equal_the_metrics_on_the_saved_images(plain_and_extra) -> None:
    plain, extra, root = plain_and_extra
    # PSNR/SSIM unchanged; the plain key has no perceptual fields, the extended one has
    assert [r["psnr"] for r in extra["rows"]] == [r["psnr"] for r in plain["rows"]]
    assert "perceptual" not in plain["key"]
    assert extra["key"]["perceptual"]["fingerprint"] == PERCEPTUAL.fingerprint
    assert extra["key"]["metrics"] == list(EXTRA) and extra["result_dir"] != plain["result_dir"]
    for row in extra["rows"]:
        sr = to_tensor(load_image(root / "sr" / row["image"]).pixels)
        hr = to_tensor(load_image(DATA / "Set5" / "HR" / row["image"]).pixels)
        assert row["niqe"] == pytest.approx(niqe(sr, crop=4, channel="y").item(), abs=1e-12)
        assert row["grad_psnr"] == pytest.approx(grad_psnr(sr, hr, crop=4).item(), abs=1e-12)
    assert extra["niqe"] == pytest.approx(sum(r["niqe"] for r in extra["rows"]) / 5)
    assert "unavailable" not in extra


@pytest.mark.shared
@needs_data
def test_sr_dir_reproduces_the_extra_columns(plain_and_extra, tmp_path: Path) -> None:
    _, extra, root = plain_and_extra
    s = score_folder(root / "sr", "bicubic-files", "set5", 4, data_root=DATA,
                     results_dir=tmp_path, progress=False, metrics=EXTRA)
    for m in EXTRA:
        assert s[m] == extra[m], m  # bit-identical
    assert s["key"]["perceptual"] == extra["key"]["perceptual"]


@pytest.mark.shared
@needs_data
def test_missing_model_files_give_unavailable_columns_not_a_failure(tmp_path: Path,
                                                                   capsys) -> None:  # noqa: ANN001
    rc = main(["eval", "--method", "bicubic", "--dataset", "Set5", "--scale", "4", "--metrics",
               "psnr,ssim,lpips,ma,pi,grad_psnr", "--data-root", str(DATA), "--results-dir",
               str(tmp_path), "--quiet", "--format", "json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and out["n_images"] == 5 and out["grad_psnr"] > 0
    assert out["lpips"] is None and out["ma"] is None and out["pi"] is None
    assert "alexnet-owt-7be5be79.pth" in out["unavailable"]["lpips"]
    assert "NRQM_model.mat" in out["unavailable"]["ma"] and "NRQM_model.mat" in out["unavailable"]["pi"]
    # text output says why, one line per metric
    main(["eval", "--method", "bicubic", "--dataset", "Set5", "--scale", "4", "--metrics",
          "lpips", "--data-root", str(DATA), "--results-dir", str(tmp_path), "--quiet"])
    text = capsys.readouterr().out
    assert "LPIPS unavailable: expected the ImageNet weights of alexnet" in text


@pytest.mark.shared
@needs_data
def test_lpips_column_with_a_trunk_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole path: file found in $SRREPRO_BACKBONES, hash prefix checked, trunk loaded.
    The file is ours (random weights), so the card is pointed at its own hash-named file."""
    import torchvision.models as tvm

    torch.manual_seed(0)
    folder = tmp_path / "trunks"
    folder.mkdir()
    tmp = folder / "x.pth"
    torch.save(tvm.alexnet(weights=None).state_dict(), tmp)
    name = f"alexnet-test-{sha256_file(tmp)[:8]}.pth"
    tmp.rename(folder / name)
    monkeypatch.setitem(backbones.BACKBONES, "alexnet",
                        backbones.BackboneFile("alexnet", name, "test"))
    monkeypatch.setenv("SRREPRO_BACKBONES", str(folder))
    r = evaluate(EvalRequest("bicubic", "set5", 4, metrics=("psnr", "ssim", "lpips"),
                             save_sr=tmp_path / "sr"), DATA, tmp_path / "res", progress=False)
    assert "unavailable" not in r
    row = {x["image"]: x for x in r["rows"]}["bird.png"]
    sr = to_tensor(load_image(tmp_path / "sr" / "bird.png").pixels)
    hr = to_tensor(load_image(DATA / "Set5" / "HR" / "bird.png").pixels)
    assert row["lpips"] == pytest.approx(lpips(sr, hr, weights=folder / name).item(), abs=1e-7)
    assert 0 < r["lpips"] < 1


@pytest.mark.shared
@needs_data
def test_psnr_ssim_run_imports_no_heavy_package(tmp_path: Path) -> None:
    code = ("import sys; from bench.cli import main; "
            f"rc = main(['eval', '--method', 'bicubic', '--dataset', 'Set5', '--scale', '4', "
            f"'--data-root', {str(DATA)!r}, '--results-dir', {str(tmp_path)!r}, '--quiet']); "
            "print(rc, sorted(m for m in ('lpips', 'pyiqa', 'torchvision', 'basicsr', 'scipy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []"
