"""DRN Table 2: Nearest/BD degradations, their protocols, the ``nearest`` method and the
computed Nearest row."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import methods
from bench.errors import ProtocolError, SRReproError
from methods.errors import SRReproError as MethodsError
from methods.nearest import Nearest
from bench.ops.degrade import bd_down, gaussian_kernel, nearest_down
from bench.pipeline import prepare, quantize
from bench.protocol import Protocol, get_protocol
from bench.published import load_table, load_tolerances, tolerance
from bench.reproduce import reproduce
from tests.conftest import DATA, needs_data


def test_nearest_down_takes_matlab_pixels() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # MATLAB imresize(x, 1/2, 'nearest') takes 0-based pixels 1 and 3 (s·i + ⌊s/2⌋)
    assert nearest_down(x, 2)[0, 0].tolist() == [[5.0, 7.0], [13.0, 15.0]]
    # x3 of a 7-wide image: mod-crop to 6, then pixels 1 and 4
    y = torch.arange(49.0).view(1, 1, 7, 7)
    assert nearest_down(y, 3)[0, 0].tolist() == [[8.0, 11.0], [29.0, 32.0]]


def test_bd_down_blurs_with_an_even_kernel_and_decimates_from_pixel_zero() -> None:
    assert gaussian_kernel(12, 1.6).sum().item() == pytest.approx(1.0, abs=1e-12)
    # a horizontal ramp: an even symmetric 12-tap kernel with MATLAB's origin (element 6)
    # shifts it by +0.5; x2 keeps 0-based pixel 0 (blur(s/2:s:end), 1-based)
    ramp = (torch.arange(32.0, dtype=torch.float64) / 100).expand(1, 1, 32, 32).clone()
    lr = bd_down(ramp, 2, quantize=False)[0, 0, 0]
    for j in range(3, 13):  # away from the replicated borders
        assert lr[j].item() == pytest.approx((2 * j + 0.5) / 100, abs=1e-12)
    # quantized: a constant image stays on the 8-bit grid
    flat = torch.full((1, 1, 16, 16), 100 / 255, dtype=torch.float64)
    assert torch.allclose(bd_down(flat, 8) * 255, torch.full((1, 1, 2, 2), 100.0, dtype=torch.float64))


def test_degradation_protocols_are_validated() -> None:
    assert get_protocol("matlab-y-nearest").lr_resize == "matlab-nearest"
    assert get_protocol("matlab-y-bd").lr_resize == "bd"
    with pytest.raises(ProtocolError, match="lr_resize must be one of"):
        Protocol(name="x", version=1, description="", lr_resize="nearest")
    with pytest.raises(ProtocolError, match="y-first"):
        Protocol(name="x", version=1, description="", pipeline="y-first", lr_resize="bd")
    # the default protocol's fingerprint is untouched by the new choices
    assert get_protocol("matlab-y").fingerprint == Protocol(name="y", version=1,
                                                            description="").fingerprint


def test_pipeline_makes_lr_with_the_protocol_degradation() -> None:
    g = torch.Generator().manual_seed(0)
    hr = torch.randint(0, 256, (3, 35, 33), generator=g).to(torch.float64)
    hr_c, lr = prepare(hr, 8, get_protocol("matlab-y-nearest"))
    assert hr_c.shape == (3, 32, 32) and torch.equal(lr, hr_c[:, 4::8, 4::8])
    _, lr_bd = prepare(hr, 8, get_protocol("matlab-y-bd"))
    expected = quantize(bd_down(hr_c[None] / 255, 8)[0] * 255)
    assert torch.equal(lr_bd, expected) and torch.equal(lr_bd, lr_bd.round())
    assert not torch.equal(lr_bd, lr)


def test_nearest_method_replicates_pixels() -> None:
    card = methods.get_card("nearest")
    assert not card.trainable and card.num_params[8] == 0
    m = methods.create("nearest", scale=2)
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert m(x)[0, 0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert methods.create("nearest", scale=8)(torch.rand(1, 3, 5, 7)).shape == (1, 3, 40, 56)
    with pytest.raises(SRReproError, match="supports scales"):
        methods.create("nearest", scale=5)
    with pytest.raises(MethodsError, match="integer scale"):
        Nearest(1.5)  # type: ignore[arg-type]


def test_table2_spec_maps_settings_to_protocols() -> None:
    spec = load_table("drn2020-table2")
    assert spec.protocol_for("degradation=nearest").name == "matlab-y-nearest"
    assert spec.protocol_for("degradation=bd").name == "matlab-y-bd"
    assert spec.protocol_for("").name == "matlab-y-gray3"
    assert [r.method for r in spec.rows if r.label == "Nearest"] == ["nearest"]


def _protocol_paragraphs(html: str) -> list[str]:
    import re

    return re.findall(r'<p class="note protocol">(.*?)</p>', html, flags=re.S)


@needs_data
def test_nearest_row_reproduces_the_published_set5_value(tmp_path: Path) -> None:
    from bench.report import render_html

    rep = reproduce("drn2020-table2", DATA, tmp_path, progress=False, sensitivity=False,
                    datasets=["set5"])
    # the page's protocol section describes the protocols the cells use, not the unused default
    paragraphs = _protocol_paragraphs(render_html(rep))
    assert len(paragraphs) == 2
    assert "Rows degradation=nearest: <b>matlab-y-nearest@1</b>" in paragraphs[0]
    assert "Rows degradation=bd: <b>matlab-y-bd@1</b>" in paragraphs[1]
    assert "matlab-nearest" in paragraphs[0] and "LR: bd" in paragraphs[1]
    assert not any("<b>matlab-y-gray3" in p for p in paragraphs)
    table1 = reproduce("drn2020-table1", DATA, tmp_path, progress=False, sensitivity=False,
                       datasets=["set5"])
    only = _protocol_paragraphs(render_html(table1))
    assert len(only) == 1 and only[0].startswith("<b>matlab-y")
    cells = {(c.label, c.dataset, c.metric): c for c in rep.cells}
    rules = load_tolerances()
    golden = {"psnr": (21.224385613963218, 21.22), "ssim": (0.5604131925938092, 0.560)}
    for metric, (measured, published) in golden.items():
        c = cells[("Nearest", "set5", metric)]
        assert c.protocol == "matlab-y-nearest@1" and c.status == "ok"
        assert c.reproduced == pytest.approx(measured, abs=1e-9)  # regression golden
        tol = tolerance(rules, "drn2020-table2", "nearest", "set5", 8, metric).value
        assert abs(measured - published) <= tol
    # a network row keeps its reason
    assert cells[("EDSR", "set5", "psnr")].status == "not-reproducible"


@needs_data
def test_a_drn_adapt_checkpoint_is_scored_on_lr_of_its_rows_degradation(tmp_path: Path) -> None:
    from bench.reproduce import parse_checkpoint
    from bench.results import stored_summaries

    torch.manual_seed(0)
    ckpt = tmp_path / "adapt.pt"
    torch.save(methods.create("drn-adapt", scale=8).state_dict(), ckpt)  # random weights
    rep = reproduce("drn2020-table2", DATA, tmp_path / "res", progress=False, sensitivity=False,
                    datasets=["set5"], checkpoints=[parse_checkpoint(f"DRN-Adapt:degradation=bd@x8={ckpt}")])
    cells = {(c.label, c.setting, c.metric): c for c in rep.cells if c.dataset == "set5"}
    bd = cells[("DRN-Adapt", "degradation=bd", "psnr")]
    assert bd.protocol == "matlab-y-bd@1" and bd.reproduced is not None
    assert cells[("DRN-Adapt", "degradation=nearest", "psnr")].reproduced is None  # no weights
    fps = {s["key"]["protocol_fingerprint"] for _, s in stored_summaries(tmp_path / "res")
           if s["key"]["method"] == "drn-adapt"}
    assert fps == {get_protocol("matlab-y-bd").fingerprint}
