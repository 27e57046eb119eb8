"""How far a number moves under each evaluation protocol the literature uses.

One SR pass per distinct LR input (:meth:`~bench.protocol.Protocol.lr_signature`) scored
under every named protocol (``srrepro protocols``; the parameter-free rows of ``reproduce``
pages). Each result is stored under its own key like any other evaluation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import methods
from bench.evaluate import EvalRequest, evaluate_protocols
from bench.protocol import DEFAULT, PROTOCOLS, Protocol


def applicable(method: str) -> list[Protocol]:
    """Every named protocol ``method`` can run under (y-first: parameter-free methods only).

    Protocols with another degradation (Nearest, BD LR) pose a different task, not another
    way to score the bicubic one, so they are left out."""
    exact = methods.get_card(method).exact_float64
    return [p for p in PROTOCOLS.values() if (exact or p.pipeline != "y-first")
            and p.lr_resize in ("matlab-bicubic", "pil-bicubic")]


def differences(p: Protocol, base: Protocol = DEFAULT) -> dict[str, Any]:
    """The choices of ``p`` that differ from ``base`` (what makes its number move)."""
    a, b = p.choices(), base.choices()
    return {k: v for k, v in a.items() if v != b[k]}


def protocol_table(req: EvalRequest, data_root: Path | None = None,
                   results_dir: Path | None = None, force: bool = False,
                   progress: bool = True) -> list[dict[str, Any]]:
    """One row per applicable protocol: its PSNR/SSIM and the move from the default."""
    protocols = applicable(req.method)
    results = evaluate_protocols(req, protocols, data_root, results_dir, force, progress)
    by_id = {p.id: r for p, r in zip(protocols, results)}
    base = by_id[DEFAULT.id]
    return [{"protocol": p.id, "differs_from_default": differences(p),
             "psnr": r["psnr"], "ssim": r["ssim"], "delta_psnr": r["psnr"] - base["psnr"],
             "delta_ssim": r["ssim"] - base["ssim"], "n_images": r["n_images"],
             "reused": r["reused"], "result_dir": r["result_dir"], "description": p.description}
            for p, r in ((p, by_id[p.id]) for p in protocols)]
