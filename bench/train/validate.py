"""Periodic validation through the evaluation protocol (bench.pipeline), without the store.

The same steps as ``srrepro eval``: mod-crop, MATLAB bicubic LR (rounded per the protocol),
the network on RGB [0, 1], uint8 quantization, PSNR/SSIM on the protocol's planes and
border. The numbers equal what ``srrepro eval`` reports for the same weights.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.data.datasets import get_manifest, image_paths
from bench.data.images import load_image
from bench.errors import ProtocolError
from bench.pipeline import measure, prepare, quantize, to_tensor
from bench.protocol import get_protocol


@torch.no_grad()
def validate(model: nn.Module, dataset: str, scale: int, protocol: str | None,
             data_root: Path | None, device: torch.device) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of ``model`` on ``dataset`` at ``scale``."""
    proto = get_protocol(protocol)
    if proto.pipeline == "y-first":
        raise ProtocolError(f"val.protocol {proto.id} super-resolves the Y plane only: expected "
                            f"an RGB protocol for a network; set val.protocol to another one")
    paths = image_paths(get_manifest(dataset), data_root)
    was_training = model.training
    model.eval()
    psnrs, ssims = [], []
    try:
        for path in paths:
            hr, lr = prepare(to_tensor(load_image(path).pixels), scale, proto, str(path))
            x = lr.expand(3, -1, -1) if lr.shape[0] == 1 else lr
            sr = model((x / 255.0).float().unsqueeze(0).to(device))[0].double().cpu() * 255.0
            p, s = measure(quantize(sr) if proto.sr_quantize else sr, hr, scale, proto)
            psnrs.append(p)
            ssims.append(s)
    finally:
        model.train(was_training)
    return {"psnr": sum(psnrs) / len(psnrs), "ssim": sum(ssims) / len(ssims)}
