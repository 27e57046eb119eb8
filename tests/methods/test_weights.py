"""methods.weights: unwrapping, strict loading, safe reading, download into the cache.

Network tests only talk to an HTTP server on 127.0.0.1 that the test itself starts.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from torch import nn

from bench.errors import DownloadError, SRReproError
from methods.registry import MethodCard, WeightsEntry
from methods.weights import load_weights, unwrap_checkpoint, weights_dir


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.tail = nn.Conv2d(4, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.bn(self.head(x)))


class NotAllowed:  # a pickled instance of this makes a file unloadable with weights_only
    def __init__(self) -> None:
        self.x = 1


def _card(weights: tuple[WeightsEntry, ...] = (), remap=None) -> MethodCard:
    return MethodCard(name="tiny-test", family="test", paper="none", scales=(1,),
                      build=lambda scale=1: Tiny(), weights=weights, remap=remap)


def _random_sd(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    m = Tiny()
    with torch.no_grad():
        m.bn.running_mean.uniform_()
    return {k: v.clone() for k, v in m.state_dict().items()}


def _same(model: nn.Module, sd: dict[str, torch.Tensor]) -> bool:
    own = model.state_dict()
    return own.keys() == sd.keys() and all(torch.equal(own[k], sd[k]) for k in sd)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture
def card() -> MethodCard:
    return _card()


# ---------------------------------------------------------------- in-memory objects

def test_raw_state_dict(card):
    sd = _random_sd(1)
    model = load_weights(Tiny(), sd, card=card)
    assert _same(model, sd)
    assert model.srrepro_weights == {"source": "<in-memory dict>", "sha256": None,
                                     "key": None, "entry": None}


def test_card_defaults_to_model_attribute():
    calls = []

    def remap(obj):
        calls.append(1)
        return obj
    model = Tiny()
    model.srrepro_card = _card(remap=remap)
    load_weights(model, _random_sd(1))
    assert calls == [1]


def test_params_ema_preferred_over_params(card):
    raw, ema = _random_sd(1), _random_sd(2)
    model = load_weights(Tiny(), {"params": raw, "params_ema": ema}, card=card)
    assert _same(model, ema) and model.srrepro_weights["key"] == "params_ema"
    model = load_weights(Tiny(), {"params": raw, "params_ema": ema}, card=card, key="params")
    assert _same(model, raw) and model.srrepro_weights["key"] == "params"
    model = load_weights(Tiny(), {"params": raw}, card=card)
    assert _same(model, raw) and model.srrepro_weights["key"] == "params"


def test_explicit_key_must_exist(card):
    with pytest.raises(SRReproError, match=r"expected key 'params'.*params_ema"):
        load_weights(Tiny(), {"params_ema": _random_sd(1)}, card=card, key="params")


def test_state_dict_and_model_wrappers_and_module_prefix(card):
    sd = _random_sd(3)
    ddp = {"module." + k: v for k, v in sd.items()}
    model = load_weights(Tiny(), {"state_dict": ddp, "epoch": 7}, card=card)
    assert _same(model, sd) and model.srrepro_weights["key"] == "state_dict"
    model = load_weights(Tiny(), {"model": sd, "epoch": 7, "note": "x"}, card=card)
    assert _same(model, sd) and model.srrepro_weights["key"] == "model"
    model = load_weights(Tiny(), ddp, card=card)
    assert _same(model, sd)
    # Prefix stripping needs every key prefixed; a partial prefix is left for strict to name.
    partial = dict(ddp)
    partial["tail.bias"] = partial.pop("module.tail.bias")
    with pytest.raises(SRReproError, match=r"unexpected.*module\.head\.weight"):
        load_weights(Tiny(), partial, card=card)


def test_ambiguous_wrapper_asks_for_key(card):
    sd = _random_sd(3)
    obj = {"model": sd, "optimizer": {"lr": 1.0}}
    with pytest.raises(SRReproError, match=r"unexpected \(2\): model, optimizer.*key="):
        load_weights(Tiny(), obj, card=card)
    model = load_weights(Tiny(), obj, card=card, key="model")
    assert _same(model, sd) and model.srrepro_weights["key"] == "model"


def test_unwrap_leaves_lists_alone():
    sds = [_random_sd(1), _random_sd(2)]
    obj, used = unwrap_checkpoint(sds)
    assert obj is sds and used is None


def test_remap_receives_unwrapped_object_and_lists():
    sd = _random_sd(4)
    official = {"body." + k: v for k, v in sd.items()}
    seen = []

    def remap(obj):
        seen.append(obj)
        src = obj[0] if isinstance(obj, list) else obj
        return {k.removeprefix("body."): v for k, v in src.items()}
    card = _card(remap=remap)
    model = load_weights(Tiny(), {"params_ema": {"module." + k: v for k, v in official.items()}},
                         card=card)
    assert _same(model, sd) and set(seen[0]) == set(official)
    model = load_weights(Tiny(), [official, {"other": torch.zeros(1)}], card=card)
    assert _same(model, sd) and isinstance(seen[1], list)


# ---------------------------------------------------------------- strict key checks

def test_missing_unexpected_and_shape_mismatch_are_named(card):
    sd = _random_sd(1)
    del sd["head.bias"]
    sd["extra.weight"] = torch.zeros(2)
    sd["tail.weight"] = torch.zeros(3, 4, 3, 3)
    model = Tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(SRReproError) as err:
        load_weights(model, sd, card=card)
    msg = str(err.value)
    assert "expected 9 keys of tiny-test, found 9" in msg
    assert "missing (1): head.bias" in msg
    assert "unexpected (1): extra.weight" in msg
    assert "shape mismatch (1): tail.weight (expected [3, 4, 1, 1], found [3, 4, 3, 3])" in msg
    assert "\n" not in msg
    assert _same(model, before)  # nothing was loaded from a rejected checkpoint


def test_many_missing_keys_are_counted(card):
    with pytest.raises(SRReproError, match=r"missing \(8\): .*\(\+3 more\)"):
        load_weights(Tiny(), {"bn.num_batches_tracked": torch.tensor(0)}, card=card)


def test_old_batchnorm_checkpoint_without_num_batches_tracked(card):
    sd = _random_sd(5)
    del sd["bn.num_batches_tracked"]
    model = load_weights(Tiny(), sd, card=card)
    assert torch.equal(model.bn.running_mean, sd["bn.running_mean"])


def test_non_strict_warns_and_records(card):
    sd = _random_sd(1)
    del sd["head.bias"]
    sd["extra"] = torch.zeros(1)
    with pytest.warns(UserWarning, match=r"head\.bias.*extra"):
        model = load_weights(Tiny(), sd, card=card, strict=False)
    assert model.srrepro_weights["missing"] == ["head.bias"]
    assert model.srrepro_weights["unexpected"] == ["extra"]


def test_bad_source_type(card):
    with pytest.raises(SRReproError, match="expected a path, URL"):
        load_weights(Tiny(), 42, card=card)


# ---------------------------------------------------------------- files

def test_file_on_disk(tmp_path, card):
    sd = _random_sd(6)
    path = tmp_path / "tiny.pth"
    torch.save({"params": sd}, path)
    model = load_weights(Tiny(), path, card=card)
    assert _same(model, sd)
    rec = model.srrepro_weights
    assert rec["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rec["source"] == str(path) and rec["key"] == "params"
    load_weights(Tiny(), str(path), card=card, sha256=rec["sha256"])
    with pytest.raises(SRReproError, match="checksum mismatch.*expected sha256 0+"):
        load_weights(Tiny(), path, card=card, sha256="0" * 64)


def test_file_needing_pickle_is_refused(tmp_path, card):
    path = tmp_path / "unsafe.pt"
    torch.save({"state_dict": _random_sd(1), "args": NotAllowed()}, path)
    with pytest.raises(SRReproError) as err:
        load_weights(Tiny(), path, card=card)
    msg = str(err.value)
    assert "weights_only" in msg and "NotAllowed" in msg and str(path) in msg


def test_corrupt_file(tmp_path, card):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(SRReproError, match="broken.pt"):
        load_weights(Tiny(), path, card=card)
    torch.save(_random_sd(1), path)
    path.write_bytes(path.read_bytes()[:200])  # truncated zip
    with pytest.raises(SRReproError, match="unreadable"):
        load_weights(Tiny(), path, card=card)


def test_missing_file_says_where_and_how(tmp_path):
    entry = WeightsEntry(name="tiny_x1", scale=1, url="https://example.org/w/tiny_x1.pt",
                         filename="tiny_x1.pt")
    card = _card(weights=(entry,))
    model = Tiny()
    model.srrepro_scale = 1
    missing = tmp_path / "nowhere" / "tiny_x1.pt"
    with pytest.raises(SRReproError) as err:
        load_weights(model, missing, card=card, cache_dir=tmp_path / "cache")
    msg = str(err.value)
    assert str(missing) in msg
    assert "https://example.org/w/tiny_x1.pt" in msg
    assert str(tmp_path / "cache" / "weights" / "tiny_x1.pt") in msg


def test_bare_file_name_found_in_cache_and_entry_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("SRREPRO_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    sd = _random_sd(7)
    cached = weights_dir() / "tiny_x1.pt"
    cached.parent.mkdir(parents=True)
    torch.save(sd, cached)
    digest = hashlib.sha256(cached.read_bytes()).hexdigest()
    good = WeightsEntry(name="tiny_x1", scale=1, url=None, filename="tiny_x1.pt",
                        sha256_prefix=digest[:8])
    model = load_weights(Tiny(), "tiny_x1.pt", card=_card(weights=(good,)))
    assert _same(model, sd) and model.srrepro_weights["entry"] == "tiny_x1"
    model = load_weights(Tiny(), good, card=_card(weights=(good,)))  # a WeightsEntry as source
    assert _same(model, sd)
    bad = WeightsEntry(name="tiny_x1", scale=1, url=None, filename="tiny_x1.pt",
                       sha256_prefix="ffffffff" if not digest.startswith("ff") else "00000000")
    with pytest.raises(SRReproError, match="expected a sha256 starting with"):
        load_weights(Tiny(), "tiny_x1.pt", card=_card(weights=(bad,)))


# ---------------------------------------------------------------- URLs (127.0.0.1 only)

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def local_server(tmp_path, monkeypatch):
    """Serve ``tmp_path/www`` on 127.0.0.1:<free port>; yield (base_url, folder)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    www = tmp_path / "www"
    www.mkdir()
    _QuietHandler.requests = []
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_url_download_verify_and_cache(tmp_path, local_server):
    base, www = local_server
    sd = _random_sd(8)
    torch.save({"params_ema": sd}, www / "tiny_x1.pth")
    digest = hashlib.sha256((www / "tiny_x1.pth").read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    url = f"{base}/tiny_x1.pth"
    model = load_weights(Tiny(), url, card=_card(), cache_dir=cache, sha256=digest,
                         progress=False)
    assert _same(model, sd)
    assert model.srrepro_weights == {"source": url, "sha256": digest, "key": "params_ema",
                                     "entry": None}
    assert _files(cache) == [cache / "weights" / "tiny_x1.pth"]
    # Second call: served from the cache, no new request.
    n = len(_QuietHandler.requests)
    load_weights(Tiny(), url, card=_card(), cache_dir=cache, sha256=digest, progress=False)
    assert len(_QuietHandler.requests) == n


def test_url_checksum_from_card_entry(tmp_path, local_server):
    base, www = local_server
    torch.save(_random_sd(9), www / "tiny-1a2b3c4d.pt")
    digest = hashlib.sha256((www / "tiny-1a2b3c4d.pt").read_bytes()).hexdigest()
    url = f"{base}/tiny-1a2b3c4d.pt"
    good = WeightsEntry(name="tiny", scale=1, url=url, filename="tiny-1a2b3c4d.pt",
                        sha256_prefix=digest[:8])
    model = load_weights(Tiny(), url, card=_card(weights=(good,)), cache_dir=tmp_path / "a",
                         progress=False)
    assert model.srrepro_weights["entry"] == "tiny"
    assert _files(tmp_path / "a") == [tmp_path / "a" / "weights" / "tiny-1a2b3c4d.pt"]
    wrong = "0" * 8 if not digest.startswith("0" * 8) else "f" * 8
    bad = WeightsEntry(name="tiny", scale=1, url=url, filename="tiny-1a2b3c4d.pt",
                       sha256_prefix=wrong)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        load_weights(Tiny(), url, card=_card(weights=(bad,)), cache_dir=tmp_path / "b",
                     progress=False)
    assert _files(tmp_path / "b") == []
    full_bad = WeightsEntry(name="tiny", scale=1, url=url, filename="tiny-1a2b3c4d.pt",
                            sha256="0" * 64)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        load_weights(Tiny(), url, card=_card(weights=(full_bad,)), cache_dir=tmp_path / "c",
                     progress=False)
    assert _files(tmp_path / "c") == []


def test_url_sha256_mismatch_leaves_nothing(tmp_path, local_server):
    base, www = local_server
    torch.save(_random_sd(10), www / "w.pt")
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match=r"checksum mismatch.*expected sha256 a{64}"):
        load_weights(Tiny(), f"{base}/w.pt", card=_card(), cache_dir=cache, sha256="a" * 64,
                     progress=False)
    assert _files(cache) == []


def test_url_http_404(tmp_path, local_server):
    base, _ = local_server
    with pytest.raises(DownloadError, match="HTTP 404"):
        load_weights(Tiny(), f"{base}/absent.pt", card=_card(), cache_dir=tmp_path / "c",
                     progress=False)
    assert _files(tmp_path / "c") == []


def test_no_network(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as err:
        load_weights(Tiny(), f"http://127.0.0.1:{port}/w.pt", card=_card(), cache_dir=cache,
                     progress=False)
    msg = str(err.value)
    assert f"127.0.0.1:{port}/w.pt" in msg and "\n" not in msg
    assert _files(cache) == []
