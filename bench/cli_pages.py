"""Handlers of the page-making subcommands (``reproduce``, ``compare``): argument values to
one library call each, then a short text summary."""
from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import SRReproError


def _csv_list(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def cmd_reproduce(a: argparse.Namespace) -> int:
    from bench.check import line
    from bench.judge import DRIFT, KNOWN, MISSING
    from bench.published import table_ids
    from bench.reproduce import (checkpoints_for, default_out_dir, parse_checkpoint, reproduce,
                                 write_index, write_outputs)

    if bool(a.all) == bool(a.table):
        raise SRReproError("pass one TABLE_ID or --all: expected exactly one of them")
    checkpoints = [parse_checkpoint(c) for c in a.checkpoint or []]
    datasets = _csv_list(a.datasets)
    if datasets:
        from bench.data.datasets import get_manifest

        datasets = [get_manifest(d).name.lower() for d in datasets]
    scales = [int(s) for s in _csv_list(a.scales) or []] or None
    tables = table_ids() if a.all else [a.table]
    if a.all:
        for c in checkpoints:
            if not any(checkpoints_for(t, [c]) for t in tables):
                raise SRReproError(f"--checkpoint {c.label}: no table has this row; expected a "
                                   f"row label of reports/tables/*.yaml")
    base = a.out or (default_out_dir("", a.results_dir) if a.all else None)
    pages = []
    for table in tables:
        rep = reproduce(table, a.data_root, a.results_dir, weights_folder=a.weights_dir,
                        progress=not a.quiet, sensitivity=not a.no_sensitivity,
                        checkpoints=checkpoints_for(table, checkpoints) if a.all else checkpoints,
                        datasets=datasets, scales=scales, runs_dir=a.runs_dir)
        out = (Path(base) / table) if a.all else (a.out or default_out_dir(table, a.results_dir))
        paths = write_outputs(rep, out, index_href="../index.html" if a.all else None)
        pages.append((rep, paths))
        metric = [c for c in rep.cells if c.dataset]
        done = [c for c in metric if c.reproduced is not None]
        print(f"{table}: reproduced {len(done)} of {len(metric)} metric cells; "
              f"{sum(c.status == DRIFT for c in rep.cells)} drift, "
              f"{sum(c.status == KNOWN for c in rep.cells)} known deviations, "
              f"{sum(c.status == MISSING for c in rep.cells)} not computable here")
        if rep.missing_datasets:
            print(f"missing datasets (cells marked): {', '.join(rep.missing_datasets)}")
        for c in rep.cells:
            if c.status in (DRIFT, KNOWN):
                print("  " + line(c))
        print(f"wrote {paths['html']}, {paths['csv']} and {paths['json']}")
    if a.all:
        print(f"wrote {write_index(pages, Path(base))}")
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    from bench.compare import compare, parse_crop, parse_pairs, write_report
    from bench.paths import results_root
    from bench.protocol import get_protocol

    names = _csv_list(a.methods) or []
    comp, tiles = compare(names, a.dataset, a.scale, parse_pairs(a.weights, "--weights"),
                          parse_pairs(a.sr_dir, "--sr-dir"),
                          parse_crop(a.crop) if a.crop else None, a.crop_image,
                          get_protocol(a.protocol), a.data_root, a.results_dir,
                          progress=not a.quiet, metrics=tuple(_csv_list(a.metrics) or ()) or None)
    out = a.out or (results_root(a.results_dir) / "compare" /
                    f"{comp.dataset.lower()}-x{a.scale}-{'-'.join(e.label for e in comp.entries)}.html")
    for e in comp.entries:
        print(f"{e.label:20s} " + "  ".join(f"{m.upper()} {e.summary[m]:.4f}" for m in comp.metrics))
    print(f"wrote {write_report(comp, tiles, out)}")
    return 0
