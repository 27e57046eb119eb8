"""Run logs when the logged loss terms change mid-run (a GAN kind's pixel stage, then G/D terms)."""
import csv
import json

from bench.train.logs import RunLog


def test_new_terms_widen_the_header_and_keep_earlier_rows(tmp_path):
    log = RunLog(tmp_path)
    log.train_row(1, 1e-4, {"pix": 0.5}, 0.1)
    log.train_row(2, 1e-4, {"pix": 0.4}, 0.2)
    log.train_row(3, 1e-4, {"pix": 0.3, "adv": 2.0, "d_total": 1.0}, 0.3)
    log.train_row(4, 1e-4, {"pix": 0.2}, 0.4)
    with (tmp_path / "train.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["adv"] == "" and rows[2]["adv"] == "2.0" and rows[2]["d_total"] == "1.0"
    assert rows[3]["pix"] == "0.2" and rows[3]["adv"] == ""
    jl = [json.loads(ln) for ln in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert jl[2]["adv"] == 2.0 and "adv" not in jl[3]
    log.plot(tmp_path / "curve.png")  # blank cells of stage-only terms are skipped, not parsed
    assert (tmp_path / "curve.png").stat().st_size > 1000
