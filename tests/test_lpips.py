"""LPIPS against the official code's output (random trunk, released v0.1 heads), plus the
interface: ranges, batching, variants, missing trunk file and bad inputs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.errors import CheckpointError, DataError
from bench.metrics.lpips import LPIPS, build_lpips, lpips, lpips_normalized
from methods.lpips_net import head_file
from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "lpips_alex_randtrunk.pt"
needs_fixture = pytest.mark.skipif(not FIXTURE.is_file(), reason=f"{FIXTURE} not found")
TOL = 1e-6  # float32 forward on the same CPU kernels: equal up to summation order


@pytest.fixture(autouse=True)
def _empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("SRREPRO_BACKBONES", raising=False)


def _fixture() -> dict:
    return torch.load(FIXTURE, weights_only=True)


def _alexnet_file_from_fixture(folder: Path) -> Path:
    """The fixture's random trunk saved as a torchvision alexnet state_dict."""
    import torchvision.models as tvm

    state = tvm.alexnet(weights=None).state_dict()
    for k, v in _fixture()["state_dict"].items():
        if k.startswith("net."):  # net.slice2.3.weight -> features.3.weight
            state["features." + k.split(".", 2)[2]] = v
    path = folder / "alexnet_fixture_trunk.pth"
    torch.save(state, path)
    return path


@pytest.mark.shared
@needs_fixture
def test_matches_official_output_with_trunk_from_a_torchvision_file(tmp_path: Path) -> None:
    fx = _fixture()
    model = build_lpips("alex", str(_alexnet_file_from_fixture(tmp_path)))
    d = lpips_normalized(model, fx["input0"], fx["input1"])
    assert (d - fx["output"].reshape(-1).double()).abs().max() <= TOL
    # per layer too: the heads are the released ones, applied to the right layers
    _, layers = model(fx["input0"], fx["input1"], retPerLayer=True)
    for ours, ref in zip(layers, fx["output_per_layer"]):
        assert (ours - ref).abs().max() <= TOL
    for i in range(5):
        key = f"lin{i}.model.1.weight"
        assert torch.equal(model.state_dict()[key], fx["state_dict"][key])


@pytest.mark.shared
@needs_fixture
def test_seed0_random_trunk_is_the_fixtures_trunk() -> None:
    fx = _fixture()
    torch.manual_seed(0)
    model = build_lpips("alex", "random")
    d = lpips_normalized(model, fx["input0"], fx["input1"])
    assert (d - fx["output"].reshape(-1).double()).abs().max() <= TOL


@pytest.mark.shared
@needs_fixture
def test_0_255_interface_equals_official_minus1_1_interface(tmp_path: Path) -> None:
    fx = _fixture()
    path = _alexnet_file_from_fixture(tmp_path)
    x255, y255 = (fx["input0"] + 1) * 127.5, (fx["input1"] + 1) * 127.5
    d = lpips(x255, y255, weights=path)
    assert (d - fx["output"].reshape(-1).double()).abs().max() <= 1e-5
    # [0,1] data with data_range=1 is the same number
    d1 = lpips(x255 / 255, y255 / 255, data_range=1.0, weights=path)
    assert (d1 - d).abs().max() <= 1e-5
    # batched = one by one; the class averages
    one = torch.cat([lpips(x255[i], y255[i], weights=path) for i in range(2)])
    assert (one - d).abs().max() <= 1e-6
    acc = LPIPS(weights=path)
    acc.update(x255, y255)
    assert acc.compute() == pytest.approx(float(d.mean()))


def test_identity_symmetry_crop_and_gray() -> None:
    torch.manual_seed(3)
    model_weights = "random"
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 40, 40, generator=g) * 255
    y = (x + torch.randn(2, 3, 40, 40, generator=g) * 20).clamp(0, 255)
    torch.manual_seed(3)
    m = build_lpips("alex", model_weights)
    xs, ys = x / 127.5 - 1, y / 127.5 - 1
    assert lpips_normalized(m, xs, xs).abs().max() == 0
    assert (lpips_normalized(m, xs, ys) - lpips_normalized(m, ys, xs)).abs().max() < 1e-6
    assert (lpips_normalized(m, xs, ys) > 0).all()
    gray = x[:, :1]
    # a gray image is scored as its RGB replica
    assert torch.allclose(lpips_normalized(m, gray / 127.5 - 1, ys[:, :1]),
                          lpips_normalized(m, gray.expand(-1, 3, -1, -1) / 127.5 - 1,
                                           ys[:, :1].expand(-1, 3, -1, -1)))


def test_vgg_variant_uses_vgg16_trunk_and_vgg_heads() -> None:
    torch.manual_seed(0)
    m = build_lpips("vgg", "random")
    assert m.pnet_type == "vgg" and len(m.lins) == 5
    heads = torch.load(head_file("vgg"), map_location="cpu", weights_only=True)
    assert torch.equal(m.state_dict()["lin4.model.1.weight"], heads["lin4.model.1.weight"])
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert lpips_normalized(m, x, x.flip(-1)).shape == (1,)


def test_missing_trunk_file_names_file_folder_and_url(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as e:
        lpips(torch.zeros(3, 32, 32), torch.zeros(3, 32, 32))
    msg = str(e.value)
    assert "alexnet-owt-7be5be79.pth" in msg and "download.pytorch.org" in msg
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints") in msg
    with pytest.raises(CheckpointError, match="vgg16-397923af.pth"):
        lpips(torch.zeros(3, 32, 32), torch.zeros(3, 32, 32), net="vgg")


@pytest.mark.parametrize("pred, target, data_range, match", [
    (torch.zeros(3, 32, 32), torch.zeros(3, 32, 30), 255.0, "same shape"),
    (torch.rand(3, 32, 32) * 2 - 1, torch.rand(3, 32, 32), 255.0, r"values in \[0, 255\]"),
    (torch.rand(3, 32, 32) * 255, torch.rand(3, 32, 32) * 255, 1.0, r"values in \[0, 1\]"),
    (torch.full((3, 32, 32), float("nan")), torch.zeros(3, 32, 32), 255.0, "NaN"),
    (torch.zeros(3, 8, 8), torch.zeros(3, 8, 8), 255.0, "too small"),
    (torch.zeros(5, 32, 32), torch.zeros(5, 32, 32), 255.0, "1 or 3 channels"),
])
def test_bad_inputs_are_one_line_data_errors(pred: torch.Tensor, target: torch.Tensor,
                                             data_range: float, match: str) -> None:
    with pytest.raises(DataError, match=match) as e:
        lpips(pred, target, data_range=data_range, weights="random")
    assert "\n" not in str(e.value)


def test_unknown_net() -> None:
    with pytest.raises(DataError, match="'alex' or 'vgg'"):
        LPIPS(net="squeeze")


def test_model_cache_follows_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A built model is reused only while its trunk file is still there and unchanged."""
    import torchvision.models as tvm

    from methods import backbones
    from methods.download import sha256_file

    folder = tmp_path / "trunks"
    folder.mkdir()
    torch.manual_seed(0)
    torch.save(tvm.alexnet(weights=None).state_dict(), folder / "x.pth")
    name = f"alexnet-test-{sha256_file(folder / 'x.pth')[:8]}.pth"
    (folder / "x.pth").rename(folder / name)
    monkeypatch.setitem(backbones.BACKBONES, "alexnet", backbones.BackboneFile("alexnet", name, "t"))
    monkeypatch.setenv("SRREPRO_BACKBONES", str(folder))
    x = torch.rand(3, 32, 32) * 255
    first = lpips(x, x.flip(-1))
    assert build_lpips() is build_lpips()  # built once
    assert lpips(x, x.flip(-1)).item() == first.item()
    monkeypatch.delenv("SRREPRO_BACKBONES")
    with pytest.raises(CheckpointError, match=name):
        lpips(x, x.flip(-1))
