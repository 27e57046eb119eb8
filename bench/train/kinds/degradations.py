"""Unpaired LR sets for DRN-Adapt (Table 2), made with the Nearest or BD degradation.

The degradations themselves live in ``bench.ops.degrade`` (one implementation shared with the
evaluation protocols ``matlab-y-nearest``/``matlab-y-bd``); they are re-exported here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.errors import DataError
from bench.ops.degrade import (BD_SIGMA, DEGRADATIONS, Degradation, bd_down, bd_kernel_size,
                               degrade, gaussian_kernel, nearest_down)

__all__ = ["BD_SIGMA", "DEGRADATIONS", "Degradation", "bd_down", "bd_kernel_size", "degrade",
           "gaussian_kernel", "nearest_down", "build_unpaired_set"]


def build_unpaired_set(hr_dir: Path, out_dir: Path, scale: int, degradation: str) -> list[Path]:
    """Degrade every PNG/BMP of ``hr_dir`` and write ``out_dir/<stem>.png`` (8-bit RGB/L).

    The result is an unpaired LR set for DRN-Adapt: only the LR images are kept. Existing
    files are replaced atomically, so a rebuild is idempotent.
    """
    import io

    from PIL import Image

    from bench.data.atomic import atomic_write_bytes
    from bench.data.images import IMAGE_SUFFIXES, load_image

    hr_dir, out_dir = Path(hr_dir), Path(out_dir)
    files = sorted(p for p in hr_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) \
        if hr_dir.is_dir() else []
    if not files:
        raise DataError(f"expected PNG/BMP images in {hr_dir}, found "
                        f"{'no such folder' if not hr_dir.is_dir() else 'none'}; point at a "
                        f"folder of HR images (e.g. <data-root>/B100/HR)")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in files:
        pixels = load_image(path).pixels                       # H×W×C uint8
        x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].to(torch.float64) / 255
        lr = degrade(x, scale, degradation)[0].permute(1, 2, 0).numpy()
        arr = np.round(lr * 255).clip(0, 255).astype(np.uint8)
        target = out_dir / f"{path.stem}.png"
        buf = io.BytesIO()
        Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(buf, format="PNG")
        atomic_write_bytes(target, buf.getvalue())
        written.append(target)
    return written
