"""``srrepro`` command line (also ``python -m bench``)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

from bench.errors import SRReproError

Handler = Callable[[argparse.Namespace], int]


def _common(p: argparse.ArgumentParser, data: bool = True) -> None:
    if data:
        p.add_argument("--data-root", type=Path, default=None,
                       help="folder holding <Name>/HR/*.png (default $SRREPRO_DATA or "
                            "~/.cache/srrepro/datasets)")
    p.add_argument("--results-dir", type=Path, default=None,
                   help="results store (default $SRREPRO_RESULTS or ./results)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_datasets(a: argparse.Namespace) -> int:
    from bench.data.datasets import fetch_dataset, hr_dir, list_datasets, verify_dataset

    if a.action == "list":
        for m in list_datasets():
            here = hr_dir(m, a.data_root).is_dir()
            how = "download" if m.sources else "manual (licence-gated or no stable URL)"
            digests = "pixel digests" if m.has_digests else "count only"
            print(f"{m.name:12s} {m.split:5s} {m.n_images:4d} images  {how:40s} {digests:13s} "
                  f"{'present' if here else 'absent'}")
        return 0
    if not a.name:
        raise SRReproError(f"`srrepro datasets {a.action}` needs a dataset NAME; "
                           f"see `srrepro datasets list`")
    if a.action == "fetch":
        print(f"{a.name}: ready at {fetch_dataset(a.name, a.data_root, progress=not a.quiet)}")
    else:
        n = verify_dataset(a.name, a.data_root, progress=not a.quiet)
        print(f"{a.name}: {n} images verified")
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    from bench.evaluate import EvalRequest, evaluate
    from bench.protocol import get_protocol

    req = EvalRequest(method=a.method, dataset=a.dataset, scale=a.scale,
                      protocol=get_protocol(a.protocol), weights=a.weights,
                      self_ensemble=a.self_ensemble, tile=a.tile, tile_overlap=a.tile_overlap,
                      device=a.device, amp=a.amp)
    t = time.perf_counter()
    r = evaluate(req, a.data_root, a.results_dir, force=a.force, progress=not a.quiet)
    out = {k: r[k] for k in ("method", "weights", "dataset", "scale", "protocol",
                             "protocol_fingerprint", "n_images", "psnr", "ssim")}
    out["seconds"] = round(time.perf_counter() - t, 4)
    out["eval_seconds"] = r["seconds"]
    out["reused"] = r["reused"]
    out["options"] = r["options"]
    if a.format == "json":
        print(json.dumps(out))
    else:
        print(f"{out['method']} [{out['weights']}] {out['dataset']} x{out['scale']} "
              f"({out['protocol']}, {out['n_images']} images): PSNR {out['psnr']:.4f} dB  "
              f"SSIM {out['ssim']:.4f}  ({out['seconds']:.2f} s{', reused' if out['reused'] else ''})")
    return 0


def cmd_reproduce(a: argparse.Namespace) -> int:
    from bench.reproduce import default_out_dir, reproduce, write_outputs

    rep = reproduce(a.table, a.data_root, a.results_dir, weights_folder=a.weights_dir,
                    progress=not a.quiet, sensitivity=not a.no_sensitivity)
    paths = write_outputs(rep, a.out or default_out_dir(a.table, a.results_dir))
    done = sum(c.reproduced is not None for c in rep.cells if c.dataset)
    total = sum(1 for c in rep.cells if c.dataset)
    drift = [c for c in rep.cells if c.status == "drift"]
    print(f"{a.table}: reproduced {done} of {total} metric cells; {len(drift)} outside tolerance")
    if rep.missing_datasets:
        print(f"missing datasets (cells marked): {', '.join(rep.missing_datasets)}")
    for c in drift:
        print(f"  drift: {c.label} {c.dataset or '#params'} x{c.scale} {c.metric}: published "
              f"{c.published_text}, reproduced {c.reproduced:.4f} (delta {c.delta:+.4f}, "
              f"tolerance {c.tolerance})")
    print(f"wrote {paths['html']} and {paths['csv']}")
    return 0


def cmd_check(a: argparse.Namespace) -> int:
    from bench.check import check
    from bench.published import table_ids

    tables = a.tables or table_ids()
    rows = [r.lower() for r in a.rows.split(",")] if a.rows else None
    datasets = [d.lower() for d in a.datasets.split(",")] if a.datasets else None
    if datasets:
        from bench.data.datasets import get_manifest

        datasets = [get_manifest(d).name.lower() for d in datasets]
        # table specs use the canonical lower-case names
    scales = [int(s) for s in a.scales.split(",")] if a.scales else None
    findings = check(tables, a.results_dir, rows, datasets, scales)
    failed = [f for f in findings if not f.ok]
    for f in findings if a.verbose else failed:
        print(f.line())
    if not findings:
        print(f"error: nothing to check in {', '.join(tables)}: expected stored results, found none; "
              f"run `srrepro reproduce TABLE_ID` first", file=sys.stderr)
        return 1
    print(f"check: {len(findings) - len(failed)} of {len(findings)} values within tolerance"
          + (f", {len(failed)} outside" if failed else ""))
    return 1 if failed else 0


def cmd_methods(a: argparse.Namespace) -> int:
    import methods

    for name in methods.list_methods(None if a.all else "generator"):
        c = methods.get_card(name)
        params = ", ".join(f"x{s}: {n / 1e6:.2f}M" for s, n in sorted(c.num_params.items()))
        print(f"{c.name:28s} {c.kind:13s} scales {','.join(map(str, c.scales)):8s} {params}")
    return 0


def cmd_complexity(a: argparse.Namespace) -> int:
    import methods
    from methods.complexity import complexity_report

    model = methods.create(a.method, scale=a.scale)
    rep = complexity_report(model, a.scale)
    if a.format == "json":
        print(json.dumps({"method": methods.get_card(a.method).name, **rep}, default=list))
        return 0
    h, w = rep["lr_size_720p"]
    print(f"{a.method} x{rep['scale']}: {rep['params']:,} params; "
          f"{rep['macs_lr256'] / 1e9:.1f} G MACs at LR 256x256; "
          f"{rep['macs_720p'] / 1e9:.1f} G MACs for a 720p output (LR {w}x{h})")
    print(f"note: {rep['note']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="srrepro", description="Reproducible single-image "
                                "super-resolution benchmarks: published vs reproduced numbers.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("datasets", help="list, fetch or verify benchmark datasets")
    d.add_argument("action", choices=["list", "fetch", "verify"])
    d.add_argument("name", nargs="?", help="dataset name (case-insensitive; b100 = bsd100)")
    _common(d)
    d.set_defaults(func=cmd_datasets)

    e = sub.add_parser("eval", help="evaluate one method on one dataset at one scale")
    e.add_argument("--method", required=True, help="registered method (see `srrepro methods`)")
    e.add_argument("--weights", default=None, help="checkpoint path or URL")
    e.add_argument("--dataset", required=True)
    e.add_argument("--scale", type=int, required=True)
    e.add_argument("--protocol", default=None, help="evaluation protocol (default matlab-y)")
    e.add_argument("--format", choices=["text", "json"], default="text")
    e.add_argument("--force", action="store_true", help="recompute even if a result is stored")
    e.add_argument("--self-ensemble", action="store_true", help="x8 geometric self-ensemble (+)")
    e.add_argument("--tile", type=int, default=None, help="tiled inference with LR tiles of this size")
    e.add_argument("--tile-overlap", type=int, default=16)
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    e.add_argument("--amp", action="store_true", help="autocast (fp16 on CUDA, bf16 on CPU)")
    _common(e)
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("reproduce", help="evaluate a published table and render it (HTML, CSV)")
    r.add_argument("table", help="table id, e.g. drn2020-table1 or bicubic-literature")
    r.add_argument("--out", type=Path, default=None,
                   help="output folder (default <results>/tables/TABLE_ID)")
    r.add_argument("--no-sensitivity", action="store_true",
                   help="skip re-evaluating parameter-free rows under every protocol")
    r.add_argument("--weights-dir", type=Path, default=None,
                   help="folder with official checkpoints (default ~/.cache/srrepro/weights)")
    _common(r)
    r.set_defaults(func=cmd_reproduce)

    c = sub.add_parser("check", help="fail when a stored reproduction drifts from the published value")
    c.add_argument("tables", nargs="*", help="table ids (default: all)")
    c.add_argument("--rows", default=None, help="comma-separated row labels or methods, e.g. bicubic")
    c.add_argument("--datasets", default=None, help="comma-separated datasets")
    c.add_argument("--scales", default=None, help="comma-separated scales")
    c.add_argument("--verbose", action="store_true", help="also print values within tolerance")
    _common(c, data=False)
    c.set_defaults(func=cmd_check)

    x = sub.add_parser("complexity", help="parameters and multiply-adds of a method at the "
                                          "two input conventions papers use")
    x.add_argument("--method", required=True)
    x.add_argument("--scale", type=int, default=None)
    x.add_argument("--format", choices=["text", "json"], default="text")
    x.set_defaults(func=cmd_complexity)

    m = sub.add_parser("methods", help="list registered methods")
    m.add_argument("--all", action="store_true", help="include discriminators and operators")
    m.set_defaults(func=cmd_methods)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SRReproError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished images are kept; run the same command again to resume",
              file=sys.stderr)
        return 130
