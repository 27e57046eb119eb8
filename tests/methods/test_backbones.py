"""ImageNet trunks: file lookup, hash-prefix check, safe strict loading, random init."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from methods import backbones
from methods.backbones import BACKBONES, build_backbone, find_backbone_file, hash_prefix
from methods.download import sha256_file
from methods.errors import CheckpointError
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def _no_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # never see a real ~/.cache/torch: point torch's hub dir into the test's tmp
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(backbones.ENV_DIR, raising=False)


def _save_named(state: dict, folder: Path, stem: str) -> Path:
    """Save ``state`` as torchvision would name it: ``<stem>-<sha256[:8]>.pth``."""
    tmp = folder / "tmp.pth"
    torch.save(state, tmp)
    path = folder / f"{stem}-{sha256_file(tmp)[:8]}.pth"
    tmp.rename(path)
    return path


def test_file_names_are_torchvisions() -> None:
    # the names torchvision 0.29 publishes (cross-checked against its weight enums)
    import torchvision.models as tvm

    assert BACKBONES["alexnet"].url == tvm.AlexNet_Weights.IMAGENET1K_V1.url
    assert BACKBONES["vgg16"].url == tvm.VGG16_Weights.IMAGENET1K_V1.url
    assert BACKBONES["vgg19"].url == tvm.VGG19_Weights.IMAGENET1K_V1.url
    assert BACKBONES["resnet50"].url == tvm.ResNet50_Weights.IMAGENET1K_V1.url
    assert hash_prefix("alexnet-owt-7be5be79.pth") == "7be5be79"
    assert hash_prefix("vgg19-dcbb9e9d.pth") == "dcbb9e9d"
    assert hash_prefix("mine.pth") is None


def test_missing_file_is_one_line_naming_file_folder_and_url(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as e:
        build_backbone("vgg19")
    msg = str(e.value)
    assert "\n" not in msg
    assert "vgg19-dcbb9e9d.pth" in msg
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints") in msg
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg


def test_unknown_name() -> None:
    with pytest.raises(CheckpointError, match="alexnet, vgg16, vgg19, resnet50"):
        build_backbone("vgg11", weights="random")


def test_random_weights_eval_and_frozen() -> None:
    torch.manual_seed(0)
    m = build_backbone("alexnet", weights="random")
    assert not m.training
    assert all(not p.requires_grad for p in m.parameters())
    torch.manual_seed(0)
    again = build_backbone("alexnet", weights="random")
    assert torch.equal(m.features[0].weight, again.features[0].weight)


def test_found_in_hub_cache_and_loaded_exactly(tmp_path: Path) -> None:
    import torchvision.models as tvm

    torch.manual_seed(1)
    src = tvm.alexnet(weights=None)
    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    # the real file name's hash does not match a file we make: check_hash off for that name
    torch.save(src.state_dict(), hub / BACKBONES["alexnet"].filename)
    assert find_backbone_file("alexnet") == hub / BACKBONES["alexnet"].filename
    with pytest.raises(CheckpointError, match="checksum mismatch.*7be5be79"):
        build_backbone("alexnet")
    m = build_backbone("alexnet", check_hash=False)
    for k, v in src.state_dict().items():
        assert torch.equal(m.state_dict()[k], v), k


def test_folder_argument_and_env_var_take_precedence(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    name = BACKBONES["resnet50"].filename
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / name).write_bytes(b"x")
    monkeypatch.setenv(backbones.ENV_DIR, str(b))
    assert find_backbone_file("resnet50") == b / name
    assert find_backbone_file("resnet50", folder=a) == a / name


def test_path_with_hash_in_name_is_verified_and_loaded(tmp_path: Path) -> None:
    import torchvision.models as tvm

    torch.manual_seed(2)
    src = tvm.resnet50(weights=None).state_dict()
    # older torchvision files lack num_batches_tracked; BatchNorm fills it
    src = {k: v for k, v in src.items() if not k.endswith("num_batches_tracked")}
    path = _save_named(src, tmp_path, "resnet50")
    m = build_backbone("resnet50", weights=path)
    assert torch.equal(m.fc.weight, src["fc.weight"])
    # the same bytes under a name claiming another digest are refused
    wrong = tmp_path / "resnet50-00000000.pth"
    wrong.write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        build_backbone("resnet50", weights=wrong)


def test_wrong_layout_and_unsafe_pickle_refused(tmp_path: Path) -> None:
    import torchvision.models as tvm

    vgg = tvm.vgg16(weights=None).state_dict()
    path = tmp_path / "vgg_as_alex.pth"
    torch.save(vgg, path)
    with pytest.raises(CheckpointError, match="key layout"):
        build_backbone("alexnet", weights=path)

    bad = tmp_path / "evil.pth"
    torch.save({"x": Path("a")}, bad)  # needs full unpickling: weights_only=True refuses it
    with pytest.raises(CheckpointError, match="weights_only"):
        build_backbone("alexnet", weights=bad)
    with pytest.raises(CheckpointError, match="found nothing"):
        build_backbone("alexnet", weights=tmp_path / "absent.pth")


def test_import_does_not_pull_torchvision() -> None:
    code = ("import sys, methods.backbones; "
            "print('torchvision' in sys.modules, any(m.startswith('bench') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "False False"
