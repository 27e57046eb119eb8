"""``srrepro`` command line (also ``python -m bench``): argument parsing only; each
subcommand calls one library function."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

from bench import __version__
from bench.cli_pages import cmd_compare, cmd_reproduce
from bench.errors import SRReproError

Handler = Callable[[argparse.Namespace], int]
SCALES = (2, 3, 4, 8)


def _dataset_names() -> str:
    from bench.data.datasets import manifest_dir

    return ", ".join(sorted(p.stem for p in manifest_dir().glob("*.yaml")))


def _protocol_names() -> list[str]:
    from bench.protocol import PROTOCOLS

    return list(PROTOCOLS)


def _method_args(p: argparse.ArgumentParser, method_required: bool = True) -> None:
    """What to run and how: the arguments ``eval`` and ``protocols`` share."""
    p.add_argument("--method", required=method_required,
                   help="registered method (see `srrepro methods`)")
    p.add_argument("--weights", default=None, help="checkpoint path or URL (default: the "
                   "official file when it is in ~/.cache/srrepro/weights)")
    p.add_argument("--dataset", required=True, help=f"one of: {_dataset_names()}")
    p.add_argument("--scale", type=int, required=True, choices=SCALES)
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: the last line of stdout is one JSON object")
    p.add_argument("--force", action="store_true",
                   help="recompute even if a result is stored (the old one is replaced only "
                        "when the new one is complete)")
    p.add_argument("--self-ensemble", action="store_true", help="x8 geometric self-ensemble (+)")
    p.add_argument("--tile", type=int, default=None, help="tiled inference with LR tiles of this size")
    p.add_argument("--tile-overlap", type=int, default=None,
                   help="LR pixels of context around each tile (default: "
                        "methods.inference.DEFAULT_OVERLAP, 32)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (must exist)")
    p.add_argument("--amp", action="store_true", help="autocast (fp16 on CUDA, bf16 on CPU)")


def _common(p: argparse.ArgumentParser, data: bool = True) -> None:
    if data:
        p.add_argument("--data-root", type=Path, default=None,
                       help="folder holding <Name>/HR/*.png (default $SRREPRO_DATA or "
                            "~/.cache/srrepro/datasets)")
    p.add_argument("--results-dir", type=Path, default=None,
                   help="results store (default $SRREPRO_RESULTS or ./results)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_datasets(a: argparse.Namespace) -> int:
    from bench.data.datasets import (fetch_dataset, hr_dir, list_datasets, present_datasets,
                                     verify_dataset)

    if a.action == "list":
        for m in list_datasets():
            here = hr_dir(m, a.data_root).is_dir()
            how = "download" if m.sources else "manual (licence-gated or no stable URL)"
            digests = "pixel digests" if m.has_digests else "count only"
            print(f"{m.name:12s} {m.split:5s} {m.n_images:4d} images  {how:40s} {digests:13s} "
                  f"{'present' if here else 'absent'}")
        return 0
    if a.action == "fetch":
        if not a.name:
            raise SRReproError("`srrepro datasets fetch` needs a dataset NAME: expected one of "
                               f"{_dataset_names()}")
        print(f"{a.name}: ready at {fetch_dataset(a.name, a.data_root, progress=not a.quiet)}")
        return 0
    names = [a.name] if a.name else [m.name for m in present_datasets(a.data_root)]
    if not names:
        raise SRReproError(f"no dataset found under the data root: expected <Name>/HR folders "
                           f"in {a.data_root or '$SRREPRO_DATA / ~/.cache/srrepro/datasets'}")
    for name in names:
        n = verify_dataset(name, a.data_root, progress=not a.quiet)
        from bench.data.datasets import get_manifest

        how = "pixel digests at x2/x3/x4/x8" if get_manifest(name).has_digests else \
            "image count only (no digests in the manifest: content NOT verified)"
        print(f"{get_manifest(name).name}: {n} images verified ({how})")
    return 0


def _request(a: argparse.Namespace):  # -> bench.evaluate.EvalRequest (imported lazily)
    """The evaluation request of ``eval``/``protocols`` arguments (see :func:`_method_args`)."""
    from bench.evaluate import EvalRequest
    from bench.protocol import get_protocol

    overlap = {} if a.tile_overlap is None else {"tile_overlap": a.tile_overlap}
    return EvalRequest(method=a.method, dataset=a.dataset, scale=a.scale,
                       protocol=get_protocol(getattr(a, "protocol", None)), weights=a.weights,
                       self_ensemble=a.self_ensemble, tile=a.tile, device=a.device, amp=a.amp,
                       save_sr=getattr(a, "save_sr", None), **overlap, **_metric_args(a))


def _metric_args(a: argparse.Namespace) -> dict:
    """``--metrics`` / ``--lpips-net`` as EvalRequest fields (only where the command has them)."""
    if getattr(a, "metrics", None) is None:
        return {}
    import dataclasses

    from bench.metrics.suite import CORE, parse_metrics
    from bench.protocol import PERCEPTUAL

    return {"metrics": tuple(dict.fromkeys(CORE + parse_metrics(a.metrics))),
            "perceptual": dataclasses.replace(PERCEPTUAL, lpips_net=a.lpips_net)}


def cmd_eval(a: argparse.Namespace) -> int:
    from bench.evaluate import evaluate, score_folder
    from bench.protocol import get_protocol

    if (a.method is None) == (a.sr_dir is None):
        raise SRReproError("expected exactly one of --method (run a method here) or --sr-dir "
                           "(score SR images made elsewhere)")
    t = time.perf_counter()
    if a.sr_dir is not None:
        if a.label is None:
            raise SRReproError("--sr-dir needs --label NAME: the name its result is stored and "
                               "reported under")
        if a.weights or a.save_sr or a.self_ensemble or a.tile or a.amp or a.device != "cpu":
            raise SRReproError("--sr-dir scores given images: expected no --weights, --save-sr, "
                               "--self-ensemble, --tile, --amp or --device")
        r = score_folder(a.sr_dir, a.label, a.dataset, a.scale, get_protocol(a.protocol),
                         a.data_root, a.results_dir, force=a.force, progress=not a.quiet,
                         **_metric_args(a))
    else:
        r = evaluate(_request(a), a.data_root, a.results_dir, force=a.force,
                     progress=not a.quiet)
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun every rank returns the same result; rank 0 reports it
    out = {k: r[k] for k in ("method", "weights", "weights_sha256", "dataset", "scale",
                             "protocol", "protocol_fingerprint", "n_images", "psnr", "ssim",
                             "options", "core_version", "data_verified")}
    extra = [m for m in _metric_args(a).get("metrics", ()) if m not in ("psnr", "ssim")]
    out.update({m: r.get(m) for m in extra})
    if r.get("unavailable"):
        out["unavailable"] = r["unavailable"]
    out.update(seconds=round(time.perf_counter() - t, 4), eval_seconds=r["seconds"],
               reused=r["reused"], result_dir=r["result_dir"])
    if a.format == "json":
        print(json.dumps(out))
    else:
        more = "".join(f"  {m.upper()} {out[m]:.4f}" for m in extra if out[m] is not None)
        print(f"{out['method']} [{out['weights']}] {out['dataset']} x{out['scale']} "
              f"({out['protocol']}, {out['n_images']} images): PSNR {out['psnr']:.4f} dB  "
              f"SSIM {out['ssim']:.4f}{more}  "
              f"({out['seconds']:.2f} s{', reused' if out['reused'] else ''})")
        for m, why in out.get("unavailable", {}).items():
            print(f"  {m.upper()} unavailable: {why}")
    return 0


# = bench.metrics.suite.ALL (tested); spelled out so building the parser imports no torch
METRIC_NAMES = ("psnr", "ssim", "lpips", "niqe", "ma", "pi", "grad_psnr")


def _metric_options(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--metrics", default=default,
                   help=f"comma-separated, any of {','.join(METRIC_NAMES)} (default {default}); a metric "
                        f"whose model file is missing is reported as unavailable with the reason")
    p.add_argument("--lpips-net", choices=["alex", "vgg"], default="alex",
                   help="LPIPS trunk (v0.1 heads): alex (the literature's) or vgg (VGG16)")


def cmd_score(a: argparse.Namespace) -> int:
    from bench.score import format_rows, score_files

    rows = score_files(a.images, a.ref, a.metrics, crop_border=a.crop_border,
                       channel=a.channel, lpips_net=a.lpips_net)
    print(format_rows(rows, a.format))
    return 0


def cmd_protocols(a: argparse.Namespace) -> int:
    from bench.sensitivity import protocol_table

    req = _request(a)
    rows = protocol_table(req, a.data_root, a.results_dir, force=a.force, progress=not a.quiet)
    if os.environ.get("RANK", "0") != "0":
        return 0
    if a.format == "json":
        print(json.dumps({"method": a.method, "dataset": a.dataset, "scale": a.scale,
                          "protocols": rows}))
        return 0
    print(f"{a.method} {a.dataset} x{a.scale}: one SR pass per LR input, scored under every "
          f"protocol (delta = moved from the default matlab-y@1)")
    print(f"{'protocol':22s} {'PSNR':>9s} {'delta':>8s} {'SSIM':>8s} {'delta':>9s}  differs from default")
    for r in rows:
        diff = ", ".join(f"{k}={v}" for k, v in r["differs_from_default"].items()) or "-"
        print(f"{r['protocol']:22s} {r['psnr']:9.4f} {r['delta_psnr']:+8.4f} {r['ssim']:8.5f} "
              f"{r['delta_ssim']:+9.5f}  {diff}")
    return 0


def cmd_check(a: argparse.Namespace) -> int:
    from bench.check import check, line, missing_lines, write_junit
    from bench.judge import DRIFT, KNOWN, MISSING
    from bench.published import table_ids

    if a.all and a.tables:
        raise SRReproError("pass table ids or --all, not both")
    tables = a.tables or table_ids()
    rows = [r.lower() for r in a.rows.split(",")] if a.rows else None
    datasets = None
    if a.datasets:
        from bench.data.datasets import get_manifest

        # table specs use the canonical lower-case names
        datasets = [get_manifest(d).name.lower() for d in a.datasets.split(",")]
    scales = [int(s) for s in a.scales.split(",")] if a.scales else None
    report = check(tables, a.results_dir, rows, datasets, scales, allow_missing=a.allow_missing)
    for c in report.cells:
        if c.status in (DRIFT, KNOWN) or (a.verbose and c.reproduced is not None):
            print(line(c))
    if a.verbose or not a.allow_missing:
        print("\n".join(missing_lines(report)) if report.of(MISSING) else "", end="")
        print() if report.of(MISSING) else None
    if a.junit:
        write_junit(report, a.junit)
    code = report.exit_code
    if code == 3:
        print(f"error: nothing to check in {', '.join(tables)}: expected stored results, found "
              f"none; run `srrepro reproduce TABLE_ID` first", file=sys.stderr)
        return code
    print(report.summary())
    return code


def cmd_results(a: argparse.Namespace) -> int:
    from bench import protocol
    from bench.paths import results_root
    from bench.results import stored_summaries

    rows = []
    for folder, s in stored_summaries(results_root(a.results_dir)):
        k = s["key"]
        opts = k["options"]
        rows.append({
            "method": k["method"], "weights": s.get("weights"), "dataset": k["dataset"],
            "scale": k["scale"], "protocol": k["protocol"],
            "options": "-".join(f"{n}={v}" for n, v in opts.items()
                                if v not in (None, False) and not (n == "device_type" and v == "cpu"))
            or "plain",
            **{m: s.get(m) for m in k["metrics"]}, "n_images": s.get("n_images"),
            "created": s.get("created"), "srrepro": s.get("environment", {}).get("srrepro"),
            "git_commit": s.get("environment", {}).get("git_commit"),
            "core_version": k["core_version"],
            "stale": k["core_version"] != protocol.NUMERIC_CORE_VERSION, "path": str(folder)})
    if a.format == "json":
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no stored results under {results_root(a.results_dir)}")
        return 0
    for r in rows:
        stale = f"  STALE (numeric core v{r['core_version']})" if r["stale"] else ""
        print(f"{r['method']:14s} {str(r['weights'])[:12]:12s} {r['dataset']:9s} x{r['scale']} "
              f"{r['protocol']:18s} {r['options']:14s} PSNR {r.get('psnr', float('nan')):.4f} "
              f"SSIM {r.get('ssim', float('nan')):.4f}  {r['created']}  srrepro {r['srrepro']} "
              f"({str(r['git_commit'])[:12]}){stale}")
    return 0


def cmd_methods(a: argparse.Namespace) -> int:
    import methods
    from bench.cells import param_count

    for name in methods.list_methods(None if a.all else "generator"):
        c = methods.get_card(name)
        parts = []
        for s in sorted(c.num_params):
            built = param_count(c.name, s) if c.scales else None
            parts.append(f"x{s}: card {c.num_params[s] / 1e6:.3f}M" +
                         (f", built {built / 1e6:.3f}M" if built is not None else ""))
        print(f"{c.name:28s} {c.kind:13s} scales {','.join(map(str, c.scales)):8s} "
              + "; ".join(parts))
    print("card = the paper's / official code's parameter count recorded on the card; "
          "built = counted from the model srrepro builds")
    return 0


def cmd_complexity(a: argparse.Namespace) -> int:
    import methods
    from methods.complexity import complexity_report, complexity_table

    if (a.method is None) == (not a.all):
        raise SRReproError("expected exactly one of --method M or --all (every registered model)")
    if a.all:
        rows = complexity_table(scale=a.scale)
        if a.format == "json":
            print(json.dumps(rows, default=list))
            return 0
        print(f"{'model':28s} {'kind':13s} {'x':>2s} {'params':>12s} {'trainable':>12s} "
              f"{'GMACs LR256':>12s} {'GMACs 720p':>11s}")
        for r in rows:
            if "macs_lr256" in r:
                macs = f"{r['macs_lr256'] / 1e9:12.2f} {r['macs_720p'] / 1e9:11.2f}"
            elif "macs_patch" in r:
                macs = f"{r['macs_patch'] / 1e9:12.3f} (on {r['patch_size']}x{r['patch_size']} patches)"
            else:
                macs = f"  {r['macs_note'][:70]}"
            print(f"{r['method']:28s} {r['kind']:13s} {r['scale']:>2d} {r['params']:>12,d} "
                  f"{r['params_trainable']:>12,d} {macs}")
        print("MACs = multiply-adds (papers' Mult-Adds, often called FLOPs); 720p = LR "
              "(720//s)x(1280//s); models built on the meta device (no weights needed)")
        return 0
    model = methods.create(a.method, scale=a.scale)
    rep = complexity_report(model, a.scale)
    if a.format == "json":
        print(json.dumps({"method": methods.get_card(a.method).name, **rep}, default=list))
        return 0
    h, w = rep["lr_size_720p"]
    print(f"{a.method} x{rep['scale']}: {rep['params']:,} params ({rep['params_trainable']:,} "
          f"trainable); {rep['macs_lr256'] / 1e9:.1f} G MACs at LR 256x256; "
          f"{rep['macs_720p'] / 1e9:.1f} G MACs for a 720p output (LR {w}x{h})")
    print(f"note: {rep['note']}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from bench.train.loop import train

    try:
        train(a.recipe, a.set, a.steps, a.data_root, a.out, a.resume, progress=not a.quiet)
    except KeyboardInterrupt:
        print("interrupted: last.pt holds the last checkpoint (log.checkpoint_every); run the "
              "same command with --resume to continue", file=sys.stderr)
        return 130
    return 0


def cmd_recipes(a: argparse.Namespace) -> int:
    from bench.train.recipe import list_recipes, resolve

    for rid in list_recipes():
        r = resolve(rid)
        print(f"{rid:26s} {r['kind']:10s} {r['method']:18s} x{r['scale']}  {r['description']}")
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from bench import speed

    if (a.method is None) == (not a.all):
        raise SRReproError("expected exactly one of --method M (one generator) or --all "
                           "(every registered generator)")
    req = speed.BenchRequest(method=a.method or "bicubic", scale=a.scale, device=a.device,
                             amp=a.amp, channels_last=a.channels_last, batch=a.batch,
                             size=speed.parse_size(a.size), repeats=a.repeats, warmup=a.warmup)
    req.validate()
    if a.all:
        rows = speed.benchmark_all(req, progress=None if a.quiet else
                                   (lambda m: print(m, file=sys.stderr, flush=True)))
    else:
        rows = [speed.benchmark(req)]
    paths = speed.store(rows, speed.result_stem(req, a.all), a.results_dir)
    if a.format == "json":
        print(json.dumps(rows if a.all else rows[0]))
        return 0
    print(speed.format_table(rows))
    print(f"wrote {paths['json']} and {paths['csv']}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``error:`` line (exit 2), like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


EXIT_HELP = ("exit status: 0 success; 1 drift found by `check` (or cells with nothing stored); "
             "2 bad input or usage (one `error:` line); 3 `check` found nothing stored; "
             "130 interrupted (finished images are kept; rerun to resume)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="srrepro", epilog=EXIT_HELP, description=(
        "Reproducible single-image super-resolution benchmarks: published vs reproduced "
        "numbers under named, versioned evaluation protocols."))
    p.add_argument("--version", action="version", version=f"srrepro {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           parser_class=_Parser)

    def add(name: str, help_: str, desc: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=desc, epilog=EXIT_HELP)

    d = add("datasets", "list, fetch or verify benchmark datasets",
            "List the known datasets, download one (checksummed, resumable, atomic), or verify "
            "the pixels of local copies against the manifests (all present sets if no NAME).")
    d.add_argument("action", choices=["list", "fetch", "verify"])
    d.add_argument("name", nargs="?", help=f"dataset name (case-insensitive): {_dataset_names()}")
    _common(d)
    d.set_defaults(func=cmd_datasets)

    e = add("eval", "evaluate one method on one dataset at one scale",
            "Generate LR images under the protocol, run the method, score PSNR/SSIM and store "
            "the result (reused only when every input that can change it is equal).")
    _method_args(e, method_required=False)
    e.add_argument("--protocol", default=None, choices=_protocol_names(),
                   help="evaluation protocol (default matlab-y; see README)")
    e.add_argument("--sr-dir", type=Path, default=None,
                   help="instead of --method: score the SR images in this folder (made by any "
                        "other code; matched to the dataset by name, _x4/_SR/_METHOD suffixes "
                        "allowed) against the dataset's HR images")
    e.add_argument("--label", default=None, help="with --sr-dir: the name to store and report "
                                                 "the result under")
    e.add_argument("--save-sr", type=Path, default=None,
                   help="also write the method's uint8 SR images here (PNG, the dataset's "
                        "file names); the evaluation then runs even when a result is stored")
    _metric_options(e, default="psnr,ssim")
    _common(e)
    e.set_defaults(func=cmd_eval)

    sc = add("score", "score image files with any metric (no dataset, nothing stored)",
             "Per-image values of no-reference metrics (niqe, ma, pi) or, given --ref images "
             "in the same order, full-reference ones (psnr, ssim, lpips, grad_psnr).")
    sc.add_argument("images", nargs="+", type=Path, help="image files to score")
    sc.add_argument("--ref", nargs="+", type=Path, default=None,
                    help="reference (HR) images, one per image, same order and size")
    _metric_options(sc, default="niqe")
    sc.add_argument("--crop-border", type=int, default=None,
                    help="pixels dropped per side (default: 0 for psnr/ssim/lpips/grad_psnr, "
                         "the PIRM 4 for niqe/ma/pi)")
    sc.add_argument("--channel", choices=["y", "rgb"], default="y",
                    help="planes of psnr/ssim (grad_psnr and lpips use RGB, niqe/ma/pi Y)")
    sc.add_argument("--format", choices=["text", "json"], default="text",
                    help="json: the last line of stdout is one JSON object with a row per image")
    sc.set_defaults(func=cmd_score)

    pr = add("protocols", "one method scored under every evaluation protocol",
             "Super-resolve a dataset once per distinct LR input and score the output under "
             "every named protocol: how far each number moves with the choices papers vary "
             "(Y rounding, grayscale policy, border, SSIM channels, PIL vs MATLAB LR, the "
             "Y-first pipeline). Each result is stored like an `eval`.")
    _method_args(pr)
    _common(pr)
    pr.set_defaults(func=cmd_protocols)

    r = add("reproduce", "evaluate a published table and render it (HTML, CSV, JSON)",
            "Evaluate every cell of a published table that can be computed here, then judge "
            "every cell from the results store exactly as `check` does and render the page.")
    r.add_argument("table", nargs="?", help="table id, e.g. drn2020-table1 or bicubic-literature "
                                             "(see reports/tables/)")
    r.add_argument("--all", action="store_true",
                   help="every table, plus an index page linking them (OUT/index.html)")
    r.add_argument("--out", type=Path, default=None,
                   help="output folder (default <results>/tables/TABLE_ID; with --all the "
                        "folder holding one sub-folder per table)")
    r.add_argument("--checkpoint", action="append", metavar="LABEL[:SETTING][@xS]=PATH",
                   help="your trained or downloaded weights for one row (repeatable), e.g. "
                        "'DRN-S@x4=runs/drn-s-x4/best.pt' or 'SRGAN-DP:mu=0.5=mu05.pt'")
    r.add_argument("--runs-dir", type=Path, default=None,
                   help="where `srrepro train` left its runs (default ./runs): a row whose "
                        "recipe has RUNS/<recipe>/final.pt is evaluated with it")
    r.add_argument("--datasets", default=None,
                   help="comma-separated datasets to evaluate (the page still shows every cell)")
    r.add_argument("--scales", default=None, help="comma-separated scales to evaluate")
    r.add_argument("--no-sensitivity", action="store_true",
                   help="skip re-evaluating parameter-free rows under every protocol")
    r.add_argument("--weights-dir", type=Path, default=None,
                   help="folder with official checkpoints (default ~/.cache/srrepro/weights)")
    _common(r)
    r.set_defaults(func=cmd_reproduce)

    co = add("compare", "compare methods on one dataset: a self-contained HTML report",
             "Evaluate several methods (and/or score folders of SR images) on one dataset and "
             "scale through the results store, then write one offline HTML report: summary, "
             "sortable per-image table, PSNR vs #params and vs speed, metric distributions and "
             "zoomed crops of the region where the methods disagree most.")
    co.add_argument("--methods", default=None,
                    help="comma-separated registered methods, e.g. bicubic,edsr-baseline,drn-s")
    co.add_argument("--dataset", required=True, help=f"one of: {_dataset_names()}")
    co.add_argument("--scale", type=int, required=True, choices=SCALES)
    co.add_argument("--weights", action="append", metavar="METHOD=PATH",
                    help="checkpoint of one of --methods (repeatable)")
    co.add_argument("--sr-dir", action="append", metavar="LABEL=DIR",
                    help="also compare SR images made elsewhere (repeatable)")
    co.add_argument("--crop", default=None, metavar="X,Y,W,H",
                    help="zoom this HR-pixel region instead of the automatic one")
    co.add_argument("--crop-image", default=None,
                    help="image the region is taken from (default: the automatic choice)")
    co.add_argument("--protocol", default=None, choices=_protocol_names(),
                    help="evaluation protocol (default matlab-y)")
    co.add_argument("--metrics", default=None,
                    help="comma-separated metrics beyond PSNR/SSIM where this build computes "
                         "them (e.g. lpips,niqe,pi)")
    co.add_argument("--out", type=Path, default=None,
                    help="report file (default <results>/compare/<dataset>-x<scale>-<methods>.html)")
    _common(co)
    co.set_defaults(func=cmd_compare)

    c = add("check", "fail when a stored reproduction drifts from the published value",
            "Judge the stored reproductions of published tables against reports/tolerances.csv "
            "and reports/known_deviations.csv; prints expected vs found for each failure.")
    c.add_argument("tables", nargs="*", help="table ids (default: all)")
    c.add_argument("--all", action="store_true", help="every table (the default without ids)")
    c.add_argument("--rows", default=None, help="comma-separated row labels or methods, e.g. bicubic")
    c.add_argument("--datasets", default=None, help="comma-separated datasets")
    c.add_argument("--scales", default=None, help="comma-separated scales")
    c.add_argument("--allow-missing", action="store_true",
                   help="cells with nothing stored do not fail (they are still counted)")
    c.add_argument("--junit", type=Path, default=None, help="also write JUnit XML to this file")
    c.add_argument("--verbose", action="store_true", help="also print cells within tolerance")
    _common(c, data=False)
    c.set_defaults(func=cmd_check)

    s = add("results", "list stored results", "List every result in the store: method, "
            "weights, data, scale, protocol, options, numbers, when and by which version.")
    s.add_argument("--format", choices=["text", "json"], default="text")
    _common(s, data=False)
    s.set_defaults(func=cmd_results)

    x = add("complexity", "parameters and multiply-adds of a method",
            "Parameters and MACs at the two input conventions papers use (LR 256x256, and "
            "the LR size of a 1280x720 output).")
    x.add_argument("--method", default=None, help="registered method")
    x.add_argument("--all", action="store_true",
                   help="every registered model (generators at x4 or --scale; "
                        "discriminators on their patch size), as a table")
    x.add_argument("--scale", type=int, default=None, choices=SCALES)
    x.add_argument("--format", choices=["text", "json"], default="text")
    x.set_defaults(func=cmd_complexity)

    b = add("bench", "inference speed and peak memory of a method (or of all)",
            "Time a generator's forward (random weights) on a batch of LR images: warm-up "
            "runs, then repeated timed runs (CUDA events on a GPU) reported as median with "
            "IQR and MAD, ms per image, images/s and peak memory (CUDA allocator peak on a "
            "GPU, peak RSS on CPU), with the device name and versions. Stored as JSON and CSV "
            "under <results>/bench/.")
    b.add_argument("--method", default=None, help="registered generator (see `srrepro methods`)")
    b.add_argument("--all", action="store_true", help="every registered generator, as a table")
    b.add_argument("--scale", type=int, default=4, choices=SCALES)
    b.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (must exist)")
    b.add_argument("--amp", action="store_true", help="autocast (fp16 on CUDA, bf16 on CPU)")
    b.add_argument("--channels-last", action="store_true",
                   help="model and input in channels-last memory format")
    b.add_argument("--batch", type=int, default=1, help="LR images per forward (default 1)")
    b.add_argument("--size", default="32x32",
                   help="LR size HxW (default 32x32; 180x320 gives a 720p output at x4)")
    b.add_argument("--repeats", type=int, default=5, help="timed runs (default 5)")
    b.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    b.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: the last line of stdout is one JSON object (a list with --all)")
    _common(b, data=False)
    b.set_defaults(func=cmd_bench)

    m = add("methods", "list registered methods",
            "Registered methods with their scales and parameter counts (the card's published "
            "count and the count of the model srrepro builds).")
    m.add_argument("--all", action="store_true", help="include discriminators and operators")
    m.set_defaults(func=cmd_methods)

    t = add("train", "train a method from a recipe",
            "Train from a recipe (id from `srrepro recipes` or a YAML path). The run folder "
            "holds recipe.yaml (resolved), last.pt (full checkpoint), final.pt (weights for "
            "`srrepro eval --weights`), train.csv/val.csv/log.jsonl and curve.png. Under "
            "`torchrun --nproc_per_node N -m bench train ...` it runs data-parallel.")
    t.add_argument("recipe", help="recipe id or path to a recipe YAML")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value by its dotted key, e.g. --set optim.lr=2e-4 "
                        "(repeatable; value parsed as YAML)")
    t.add_argument("--steps", type=int, default=None, help="total optimisation steps")
    t.add_argument("--out", type=Path, default=None, help="run folder (default runs/RECIPE)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last.pt (same recipe)")
    t.add_argument("--data-root", type=Path, default=None,
                   help="folder holding <Name>/HR/ for training and validation sets (default "
                        "$SRREPRO_DATA or ~/.cache/srrepro/datasets)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    rc = add("recipes", "list training recipes",
             "Training recipes in methods/recipes: id, kind, method, scale, description.")
    rc.set_defaults(func=cmd_recipes)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version (0) or a usage error (2, already printed)
        return int(e.code or 0)
    try:
        return args.func(args)
    except SRReproError as e:
        if os.environ.get("RANK", "0") == "0":  # under torchrun every rank raises the same
            print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished images are kept; run the same command again to resume",
              file=sys.stderr)
        return 130
