"""The cells of a published table as judged from the results store.

``reproduce`` fills the store and then reads it through :func:`table_cells`; ``check`` only
reads it; both therefore judge exactly the same numbers with the same function
(:func:`bench.judge.judge`). A metric cell takes the newest stored result whose key matches
the table (method, dataset, scale, the table's protocol, plain inference, current
numeric-core version) and, for a trained network, the weights ``reproduce`` bound to that
row (official or the user's checkpoint, recorded in ``<results>/bindings/<table>.json`` so
``check`` finds the same result). Parameter counts are computed from the built model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import methods
from bench import protocol as _protocol
from bench.data.atomic import atomic_write_text
from bench.judge import (MISSING, NOT_REPRODUCIBLE, UNAVAILABLE, KnownDeviation, judge,
                         load_known_deviations)
from bench.metric_info import evaluator_metrics, metric_info, unavailable_here
from bench.paths import PROJECT_ROOT
from bench.published import Row, TableSpec, load_tolerances, tolerance
from bench.results import InferenceOptions, stored_summaries

RECIPES_DIR = PROJECT_ROOT / "methods" / "recipes"


@dataclass
class Cell:
    table: str
    label: str
    method: str | None
    dataset: str  # "" for per-method values (params_m)
    scale: int
    metric: str
    published: float | None
    published_text: str
    reproduced: float | None = None
    tolerance: float | None = None
    status: str = MISSING  # ok | known | drift | missing | no-published | not-reproducible | unavailable
    reason: str = ""  # why nothing is reproduced (missing cells)
    protocol: str = ""
    known: KnownDeviation | None = None
    result_dir: str = ""
    data_verified: bool | None = None
    setting: str = ""  # the row's hyper-parameter / ablation variant in sweep tables

    @property
    def delta(self) -> float | None:
        if self.published is None or self.reproduced is None:
            return None
        return self.reproduced - self.published

    @property
    def row_id(self) -> str:
        return f"{self.label} [{self.setting}]" if self.setting else self.label

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.row_id, self.dataset, self.scale, self.metric)


def param_count(method: str, scale: int, weights: str | None = None) -> int:
    """Parameters of the paper configuration, or of the architecture a ``srrepro train``
    ``final.pt`` records (smoke widths differ), built on the meta device (no memory, fast)."""
    trained = methods.read_model_args(weights) if weights else None
    arch = trained[2] if trained is not None else {}
    with torch.device("meta"):
        return methods.count_params(methods.create(method, scale=scale, **arch))


# ---- which weights a row's numbers come from ---------------------------------------------

def bindings_path(root: Path, table: str) -> Path:
    return Path(root) / "bindings" / f"{table}.json"


def binding_key(row: Row, scale: int) -> str:
    return f"{row.id}@x{scale}"


def load_bindings(root: Path, table: str) -> dict[str, dict[str, str]]:
    """Row@scale -> {"method", "weights_sha256", "weights"} recorded by ``reproduce``."""
    path = bindings_path(root, table)
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def save_bindings(root: Path, table: str, new: dict[str, dict[str, str]]) -> None:
    """Merge ``new`` into the stored bindings (a later checkpoint replaces an earlier one)."""
    if new:
        atomic_write_text(bindings_path(root, table),
                          json.dumps({**load_bindings(root, table), **new}, indent=1,
                                     sort_keys=True))


def recipe_id(row: Row, scale: int) -> str:
    """The row's recipe at ``scale`` (a spec may write ``drn-s-x{scale}``)."""
    return row.recipe.replace("{scale}", str(scale))


def trained_run(row: Row, scale: int, runs_dir: Path | None = None) -> Path | None:
    """``runs/<recipe>/final.pt`` when `srrepro train <recipe>` has finished here (rows of
    the paper's own setting only: a sweep's setting is not the recipe's default)."""
    if not row.recipe or row.setting:
        return None
    path = Path(runs_dir or "runs") / recipe_id(row, scale) / "final.pt"
    return path if path.is_file() else None


def recipe_hint(row: Row, scale: int) -> str:
    """How to get weights for a row that needs training."""
    if not row.recipe:
        return ""
    rid = recipe_id(row, scale)
    where = RECIPES_DIR / f"{rid}.yaml"
    setting = f" with {row.setting}" if row.setting else ""
    spec = f"'{row.label}{':' + row.setting if row.setting else ''}@x{scale}=PATH'"
    present = "" if where.exists() else f" (recipe {rid} is not in this build yet)"
    after = ("then pass --checkpoint " + spec if row.setting else
             f"then rerun (runs/{rid}/final.pt is picked up) or pass --checkpoint {spec}")
    return f"needs trained weights: train with `srrepro train {rid}`{setting}{present}, {after}"


# ---- the store, indexed -------------------------------------------------------------------

def _index(root: Path, spec: TableSpec) -> dict[tuple[str, str, str, int, str], dict[str, Any]]:
    """Best matching summary per (method, weights sha256, dataset, scale, protocol
    fingerprint) for the table's protocols, plain inference and the current numeric core."""
    plain = InferenceOptions().__dict__
    best: dict[tuple[str, str, str, int, str], dict[str, Any]] = {}
    fingerprints = {p.fingerprint for p in spec.protocols()}
    for folder, s in stored_summaries(root):
        k = s["key"]
        if (k.get("protocol_fingerprint") not in fingerprints
                or k.get("core_version") != _protocol.NUMERIC_CORE_VERSION or k.get("options") != plain):
            continue
        ident = (k["method"], s.get("weights_sha256", "none"), k["dataset"].lower(), int(k["scale"]),
                 k["protocol_fingerprint"])
        s = {**s, "result_dir": str(folder)}
        # the result holding most of the table's metrics wins (a PSNR/SSIM-only run must not
        # hide one that also has LPIPS), then the newest
        rank = (sum(m in s for m in spec.metrics), s.get("created", ""))
        if ident not in best or rank > (sum(m in best[ident] for m in spec.metrics),
                                        best[ident].get("created", "")):
            best[ident] = s
    return best


def _result_for(row: Row, card: methods.MethodCard, ds: str, scale: int,
                stored: dict[tuple[str, str, str, int, str], dict[str, Any]],
                bindings: dict[str, dict[str, str]], fingerprint: str) -> dict[str, Any] | None:
    if not card.trainable:
        return stored.get((card.name, "none", ds, scale, fingerprint))
    b = bindings.get(binding_key(row, scale))
    if b is None or b.get("method") != card.name:
        return None  # a trained row shows only the weights reproduce was given for it
    return stored.get((card.name, b["weights_sha256"], ds, scale, fingerprint))


def table_cells(spec: TableSpec, root: Path,
                reasons: dict[tuple[str, str, int], str] | None = None,
                bindings: dict[str, dict[str, str]] | None = None) -> list[Cell]:
    """Every published cell of ``spec`` (plus built-model #params), judged from the store.

    ``reasons`` maps (row id, dataset, scale) to why a cell could not be computed here
    (missing weights or dataset), shown on missing cells; ``bindings`` (default: the ones
    stored under ``root``) say which weights each trained row was evaluated with.
    """
    rules = load_tolerances()
    known = load_known_deviations()
    stored = _index(root, spec)
    bindings = load_bindings(root, spec.id) if bindings is None else bindings
    available = evaluator_metrics()
    cannot = unavailable_here([m for m in spec.metrics if m in available])
    reasons = reasons or {}
    cells: list[Cell] = []
    for row in spec.rows:
        card = methods.get_card(row.method) if row.method else None
        for scale in spec.scales:
            if not spec.has_row(row, scale):
                continue
            pub = spec.value(row.label, "", scale, "params_m", row.setting)
            if card is not None and ("params_m" in spec.metrics or pub is not None):
                cells.append(_judged(Cell(
                    spec.id, row.label, card.name, "", scale, "params_m",
                    pub.value if pub else None, pub.text if pub else "-",
                    reproduced=param_count(card.name, scale) / 1e6, protocol="built model",
                    setting=row.setting), rules, known))
            elif card is None and pub is not None:  # printed, but nothing to build
                cells.append(Cell(spec.id, row.label, None, "", scale, "params_m", pub.value,
                                  pub.text, status=NOT_REPRODUCIBLE, protocol="built model",
                                  reason=row.reason, setting=row.setting))
            for ds in spec.datasets:
                proto = spec.protocol_for(row.setting)
                result = (_result_for(row, card, ds, scale, stored, bindings, proto.fingerprint)
                          if card else None)
                for metric in spec.metrics:
                    if metric == "params_m":
                        continue
                    pub = spec.value(row.label, ds, scale, metric, row.setting)
                    if pub is None and (card is None or result is None):
                        continue  # not printed and nothing to show
                    cell = Cell(spec.id, row.label, card.name if card else None, ds, scale, metric,
                                pub.value if pub else None, pub.text if pub else "-",
                                protocol=proto.id, setting=row.setting)
                    if card is None:
                        cell.status, cell.reason = NOT_REPRODUCIBLE, row.reason or (
                            "not in the srrepro registry (no architecture or weights to evaluate)")
                        if row.recipe:
                            cell.reason += "; " + recipe_hint(row, scale)
                    elif metric not in available:
                        cell.status = UNAVAILABLE
                        cell.reason = (f"metric {metric_info(metric).display} not available in "
                                       f"this build (the evaluator does not compute it yet)")
                    elif metric in cannot and not (result and metric in result):
                        cell.status = UNAVAILABLE
                        cell.reason = (f"metric {metric_info(metric).display} cannot be "
                                       f"computed here: {cannot[metric]}")
                    elif result is not None and metric in result:
                        cell.reproduced = float(result[metric])
                        cell.result_dir = result["result_dir"]
                        cell.data_verified = bool(result.get("data_verified"))
                        cells.append(_judged(cell, rules, known))
                        continue
                    elif result is not None:
                        cell.reason = (f"the stored result predates metric {metric}: rerun "
                                       f"`srrepro reproduce {spec.id}`")
                    else:
                        cell.reason = reasons.get((row.id, ds, scale)) or _why_missing(
                            row, card, scale, spec.id)
                    cells.append(cell)
    return cells


def _why_missing(row: Row, card: methods.MethodCard, scale: int, table: str) -> str:
    if card.trainable:
        parts = []
        if not row.setting:  # an official checkpoint is the paper's setting, not a sweep's
            found, reason = methods.find_weights(card.name, scale)
            if found is None:
                parts.append(reason)
        if row.recipe:
            parts.append(recipe_hint(row, scale))
        if parts:
            return "; or ".join(parts)
    return f"nothing stored: run `srrepro reproduce {table}`"


def _judged(cell: Cell, rules: list[dict[str, str]],
            known: dict[tuple[str, str, str, int, str], KnownDeviation]) -> Cell:
    tol = tolerance(rules, cell.table, cell.method or cell.label, cell.dataset or "*",
                    cell.scale, cell.metric)
    v = judge(cell.published, cell.reproduced, tol.value,
              known.get((cell.table, cell.row_id, cell.dataset, cell.scale, cell.metric)))
    cell.status, cell.tolerance, cell.known = v.status, v.tolerance, v.known
    return cell
