"""``read_model_args``: the architecture stored in a ``srrepro train`` final.pt, nothing for
other checkpoints, one error line for a damaged one."""
from __future__ import annotations

import pytest
import torch

import methods
from methods.errors import CheckpointError
from methods.weights import TRAINED_FORMAT, read_model_args


def test_round_trip_rebuilds_a_smoke_width_model(tmp_path):
    model = methods.create("edsr-baseline", 4, n_resblocks=1, n_feats=8)
    path = tmp_path / "final.pt"
    torch.save({"format": TRAINED_FORMAT, "method": "edsr-baseline", "scale": 4,
                "model_args": {"n_resblocks": 1, "n_feats": 8},
                "state_dict": model.state_dict()}, path)
    name, scale, args = read_model_args(str(path))
    rebuilt = methods.create(name, scale, **args)
    methods.load_weights(rebuilt, str(path))
    for k, v in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[k], v)


def test_other_sources_give_none(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save(methods.create("edsr-baseline", 4, n_resblocks=1, n_feats=8).state_dict(), plain)
    assert read_model_args(str(plain)) is None
    assert read_model_args("https://example.invalid/x.pt") is None
    assert read_model_args(str(tmp_path / "missing.pt")) is None


def test_damaged_trained_file_is_one_error_line(tmp_path):
    path = tmp_path / "final.pt"
    torch.save({"format": TRAINED_FORMAT, "method": "edsr-baseline", "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="expected method, scale and model_args"):
        read_model_args(str(path))
