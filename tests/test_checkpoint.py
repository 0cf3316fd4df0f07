"""Checkpoints during ``fit`` and resuming from them.

A run of ``2k`` epochs that saves a checkpoint at epoch ``k``, is killed during epoch
``k + 2`` and is then resumed (into a freshly built model, with another seed passed, so
that only the checkpoint can supply the state) ends with bit-for-bit the parameters
and history of the uninterrupted run.  A write that fails half way leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from nablagraph.nn import Network

K = 3

SETTINGS: dict[str, dict[str, Any]] = {
    "sgd-momentum-flat": {"optimizer": "sgd", "lr": 0.5, "momentum": 0.9},
    "sgd-momentum-decay": {"optimizer": "sgd", "lr": 0.5, "momentum": 0.5, "weight_decay": 1e-3},
    "adam-flat": {"optimizer": "adam", "lr": 0.05},
    "adam-decay": {"optimizer": "adam", "lr": 0.05, "weight_decay": 1e-3},
}


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((41, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    return X[:33], y[:33], X[33:], y[33:]


def _net(seed: int = 0) -> Network:
    return Network([4, 5, 3], activation="tanh", cost="cross_entropy", seed=seed)


class KilledError(Exception):
    """Stands for the process being killed."""


def _diag(kill_at: int | None = None) -> Any:
    calls = {"n": 0}

    def diag(model: Any, X: np.ndarray, Y: np.ndarray) -> dict[str, float]:
        calls["n"] += 1
        if kill_at is not None and calls["n"] == kill_at:
            raise KilledError(f"killed during epoch {kill_at}")
        return {"sum_W2": float(model.layers[0].W.data.sum())}

    return diag


def _fit(net: Network, epochs: int, seed: int, kw: dict[str, Any], **extra: Any) -> ng.nn.History:
    X, y, Xv, yv = _data()
    return ng.fit(net, X, y, epochs=epochs, batch_size=7, seed=seed, verbose=False,
                  validation_data=(Xv, yv), **kw, **extra)


def _params(net: Network) -> list[bytes]:
    return [p.data.tobytes() for p in net.parameters()]


def _history(h: ng.nn.History) -> dict[str, Any]:
    d = h.to_dict()
    del d["seconds"], d["config"]
    return d


@pytest.mark.parametrize("name", list(SETTINGS))
def test_killed_and_resumed_run_equals_the_uninterrupted_run(name: str, tmp_path: Path) -> None:
    kw = SETTINGS[name]
    full_net = _net()
    full = _fit(full_net, 2 * K, seed=11, kw=kw, diagnostics=_diag())

    ckpt = tmp_path / "run.safetensors"
    with pytest.raises(KilledError):  # dies in epoch K + 2, after the checkpoint at K
        _fit(_net(), 2 * K, seed=11, kw=kw, diagnostics=_diag(kill_at=K + 2),
             checkpoint_every=K, checkpoint_path=ckpt)
    assert ckpt.exists()

    resumed_net = _net(seed=123)  # a different initialisation: the checkpoint must win
    assert _params(resumed_net) != _params(full_net)
    resumed = _fit(resumed_net, 2 * K, seed=999, kw=kw, diagnostics=_diag(),
                   resume_from=ckpt, checkpoint_every=K, checkpoint_path=ckpt)

    assert _params(resumed_net) == _params(full_net)
    assert _history(resumed) == _history(full)
    assert resumed.epoch == list(range(1, 2 * K + 1))
    # The final checkpoint holds the final model, readable as a plain model file.
    reloaded = ng.load(ckpt)
    assert _params(reloaded) == _params(full_net)


def test_resuming_changes_the_result_if_the_optimizer_state_were_lost(tmp_path: Path) -> None:
    """Guards the test above: with momentum, restarting without the velocity differs."""
    kw = SETTINGS["sgd-momentum-flat"]
    full_net = _net()
    _fit(full_net, 2 * K, seed=11, kw=kw)
    ckpt = tmp_path / "run.safetensors"
    _fit(_net(), K, seed=11, kw=kw, checkpoint_every=K, checkpoint_path=ckpt)
    naive = _net()
    ng.io.load_into(naive, ckpt)  # parameters only
    _fit(naive, K, seed=11, kw=kw)
    assert _params(naive) != _params(full_net)


def test_a_failed_write_leaves_the_previous_checkpoint_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kw = SETTINGS["adam-flat"]
    ckpt = tmp_path / "run.safetensors"
    _fit(_net(), K, seed=1, kw=kw, checkpoint_every=K, checkpoint_path=ckpt)
    before = ckpt.read_bytes()

    def crash(src: Any, dst: Any) -> None:
        raise OSError("simulated crash during the checkpoint write")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        _fit(_net(), 2 * K, seed=1, kw=kw, resume_from=ckpt, checkpoint_every=1, checkpoint_path=ckpt)
    monkeypatch.undo()
    assert ckpt.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.safetensors"]  # no temp files left
    # ... and it still resumes to the uninterrupted result.
    full_net, net = _net(), _net()
    _fit(full_net, 2 * K, seed=1, kw=kw)
    _fit(net, 2 * K, seed=1, kw=kw, resume_from=ckpt)
    assert _params(net) == _params(full_net)


def test_a_killed_writer_process_leaves_the_previous_checkpoint_intact(tmp_path: Path) -> None:
    """A real process killed (os._exit) in the middle of writing the new checkpoint."""
    import subprocess
    import sys

    ckpt = tmp_path / "run.safetensors"
    X = np.random.default_rng(7).standard_normal((33, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    ng.fit(_net(), X, y, epochs=K, batch_size=7, lr=0.5, momentum=0.9, verbose=False,
           checkpoint_every=K, checkpoint_path=ckpt)
    before = ckpt.read_bytes()
    script = f"""
import os, numpy as np, nablagraph as ng
from nablagraph.io import models, writer  # where save_checkpoint and save_file look them up
real = models.save_file
def dying(tensors, path, metadata=None, checksum=True):
    def chunks_then_die(path, chunks):
        f = open(str(path) + ".partial", "wb"); f.write(b"half a checkpoint"); f.flush()
        os._exit(9)
    writer._atomic_write = chunks_then_die
    real(tensors, path, metadata, checksum)
models.save_file = dying
X = np.random.default_rng(7).standard_normal((33, 4)); y = (X[:, 0] > 0).astype(np.int64)
net = ng.nn.Network([4, 5, 3], activation="tanh", cost="cross_entropy", seed=0)
ng.fit(net, X, y, epochs={2 * K}, batch_size=7, lr=0.5, momentum=0.9, verbose=False,
       resume_from={str(ckpt)!r}, checkpoint_every=1, checkpoint_path={str(ckpt)!r})
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert ckpt.read_bytes() == before
    ng.load(ckpt)  # still a valid, verified file


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"batch_size": 5}, ng.ConfigError, r"cannot resume from .*batch_size=7 there, 5 here"),
        ({"epochs": K - 1}, ng.ConfigError, rf"was saved after epoch {K} but epochs={K - 1}"),
        ({"optimizer": "adam", "momentum": 0.0}, ng.ConfigError,
         r"SGD.*Adam|optimizer='SGD' but this optimizer has optimizer='Adam'"),
        ({"weight_decay": 1e-3}, ng.ConfigError, r"flat=True but this optimizer has flat=False"),
    ],
)
def test_resume_refuses_a_checkpoint_of_another_run(
    change: dict[str, Any], error: type[Exception], message: str, tmp_path: Path
) -> None:
    ckpt = tmp_path / "run.safetensors"
    kw = dict(SETTINGS["sgd-momentum-flat"])
    _fit(_net(), K, seed=1, kw=kw, checkpoint_every=K, checkpoint_path=ckpt)
    X, y, Xv, yv = _data()
    args: dict[str, Any] = {"epochs": 2 * K, "batch_size": 7, "validation_data": (Xv, yv), **kw}
    args.update(change)
    net = _net(seed=5)
    before = _params(net)
    with pytest.raises(error, match=message):
        ng.fit(net, X, y, verbose=False, resume_from=ckpt, **args)
    assert _params(net) == before  # refused before anything changed


def test_resume_refuses_a_plain_model_file_and_another_architecture(tmp_path: Path) -> None:
    model_file = tmp_path / "model.safetensors"
    ng.save(_net(), model_file)
    X, y, _, _ = _data()
    with pytest.raises(ng.FileFormatError, match="a model file without training state"):
        ng.fit(_net(), X, y, epochs=2, batch_size=7, verbose=False, resume_from=model_file)
    ckpt = tmp_path / "run.safetensors"
    ng.fit(_net(), X, y, epochs=1, batch_size=7, verbose=False, checkpoint_every=1, checkpoint_path=ckpt)
    other = Network([4, 6, 3], activation="tanh", cost="cross_entropy", seed=0)
    with pytest.raises(ng.ShapeError, match=r"holds a Network with sizes \[4, 5, 3\], the model has sizes \[4, 6, 3\]"):
        ng.fit(other, X, y, epochs=2, batch_size=7, verbose=False, resume_from=ckpt)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"checkpoint_every": 2}, r"checkpoint_every=2 needs checkpoint_path="),
        ({"checkpoint_path": "x.safetensors"}, r"checkpoint_path is set but checkpoint_every is not"),
        ({"checkpoint_every": 0, "checkpoint_path": "x.safetensors"}, r"checkpoint_every must be at least 1, got 0"),
    ],
)
def test_checkpoint_arguments_are_validated(kw: dict[str, Any], message: str) -> None:
    X, y, _, _ = _data()
    with pytest.raises(ng.ConfigError, match=message):
        ng.fit(_net(), X, y, epochs=1, batch_size=7, verbose=False, **kw)


@pytest.mark.parametrize("flat", [True, False])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_optimizer_state_round_trips(kind: str, flat: bool) -> None:
    def make(net: Network) -> ng.nn.optim.Optimizer:
        if kind == "sgd":
            return ng.SGD(net, lr=0.1, momentum=0.9, flat=flat)
        return ng.Adam(net, lr=0.01, flat=flat)

    X = _data()[0]
    a, b = _net(), _net()
    oa, ob = make(a), make(b)
    for _ in range(3):
        oa.zero_grad()
        out = a(X)
        (out * out).sum().backward()
        oa.step()
    arrays, scalars = oa.state_dict()
    if flat:
        assert set(arrays) == ({"velocity.0"} if kind == "sgd" else {"m.0", "v.0"})
    else:
        assert len(arrays) == (4 if kind == "sgd" else 8)
    ob.load_state_dict(arrays, scalars)
    for name in ("velocity",) if kind == "sgd" else ("m", "v"):
        for x, z in zip(getattr(oa, name), getattr(ob, name)):
            assert (x is None and z is None) or np.array_equal(x, z)
    assert ob.steps == oa.steps == 3
    if kind == "adam":
        assert ob.t == oa.t


# ------------------------------------------------------------------ malformed state
def _with_state(raw: bytes, edit: Any) -> bytes:
    """The checkpoint ``raw`` with its state changed by ``edit(state)``, checksums recomputed."""
    n = int.from_bytes(raw[:8], "little")
    header, data = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    meta = header["__metadata__"]
    state = json.loads(meta["checkpoint"])
    text = edit(state)
    meta["checkpoint"] = text if isinstance(text, str) else json.dumps(state)
    meta["header_sha256"] = hashlib.sha256(ng.io._canonical(header)).hexdigest()
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-(8 + len(head)) % 8)
    return len(head).to_bytes(8, "little") + head + data


def _put(*path_and_value: Any) -> Any:
    *path, value = path_and_value

    def edit(state: dict[str, Any]) -> None:
        obj = state
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (_put("epoch", "abc"), ng.FileFormatError, r"fit: the checkpoint .* is malformed: its epoch count is 'abc', expected a non-negative integer"),
        (_put("epoch", True), ng.FileFormatError, r"its epoch count is 'True'"),
        (_put("history", 3), ng.FileFormatError, r"malformed: its history is int, expected a JSON object"),
        (_put("history", "train_cost", None), ng.FileFormatError, r"its history has train_cost=NoneType, expected a list"),
        (_put("history", "epoch", "abc"), ng.FileFormatError, r"its history has epoch=str, expected a list"),
        (_put("history", "epoch", [1, 2, 7]), ng.FileFormatError, r"its history lists the epochs \[1, 2, 7\], expected 1 … 3"),
        (_put("history", "val_cost", [0.5, "x", 0.1]), ng.FileFormatError, r"its history has val_cost \[0.5, 'x', 0.1\]; expected 3 numbers or nulls"),
        (_put("history", "seconds", [0.1]), ng.FileFormatError, r"its history has seconds \[0.1\]; expected 3 numbers"),
        (_put("history", "diagnostics", [{}] * 9), ng.FileFormatError, r"its history has 9 diagnostics for 3 epochs"),
        (_put("optimizer", [1]), ng.FileFormatError, r"its optimizer state is list, expected a JSON object"),
        (_put("optimizer", "steps", "abc"), ng.FileFormatError, r"its optimizer state has steps=abc, expected a non-negative integer"),
        (_put("optimizer", "steps", -3), ng.FileFormatError, r"steps=-3"),
        (_put("optimizer", "flat", False), ng.ConfigError, r"SGD.load_state_dict: the saved state has flat=False but this optimizer has flat=True"),
        (_put("run", None), ng.FileFormatError, r"its run settings are NoneType, expected a JSON object"),
        (_put("rng", "state", "state", "x"), ng.ConfigError, r"the shuffling RNG state in .* does not fit a PCG64 generator"),
        (_put("rng", 5), ng.ConfigError, r"does not fit a PCG64 generator"),
        (_put("format", 99), ng.ConfigError, r"holds checkpoint format 99; this version of nablagraph reads format 1"),
        (lambda s: "[" * 1000 + "]" * 1000, ng.FileFormatError, r"the checkpoint state nests JSON 1000 levels deep; at most 64"),
        (lambda s: json.dumps({**s, "note": "\ud800"}), ng.FileFormatError, r"the checkpoint state holds the string '\\ud800' with a lone surrogate"),
        (lambda s: "[1, 2]", ng.FileFormatError, r"the checkpoint state is not a JSON object"),
    ],
)
def test_a_malformed_checkpoint_state_is_refused_before_anything_changes(
    edit: Any, error: type[Exception], message: str, tmp_path: Path
) -> None:
    ckpt = tmp_path / "run.safetensors"
    kw = dict(SETTINGS["sgd-momentum-flat"])
    _fit(_net(), K, seed=1, kw=kw, checkpoint_every=K, checkpoint_path=ckpt)
    ckpt.write_bytes(_with_state(ckpt.read_bytes(), edit))
    X, y, Xv, yv = _data()
    net = _net(seed=5)
    opt = ng.SGD(net, lr=0.5, momentum=0.9, flat=True)
    opt.zero_grad()
    (net(X) * net(X)).sum().backward()
    opt.step()  # the optimizer has state of its own to lose
    arrays, scalars = opt.state_dict()
    before = _params(net)
    with pytest.raises(error, match=message):
        ng.fit(net, X, y, epochs=2 * K, batch_size=7, validation_data=(Xv, yv), optimizer=opt,
               verbose=False, resume_from=ckpt)
    assert _params(net) == before
    arrays2, scalars2 = opt.state_dict()
    assert scalars2 == scalars and arrays2.keys() == arrays.keys()
    assert all(np.array_equal(arrays[k], arrays2[k]) for k in arrays)


def test_state_arrays_with_odd_names_are_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.safetensors"
    X, y, _, _ = _data()
    net = _net()
    ng.fit(net, X, y, epochs=1, batch_size=7, verbose=False, optimizer="sgd", lr=0.5, momentum=0.9,
           checkpoint_every=1, checkpoint_path=ckpt)
    state = json.loads(ng.io.read_metadata(ckpt)["checkpoint"])
    velocity = ng.io.load_file(ckpt)["fit/velocity.0"]
    ng.io.save_checkpoint(net, ckpt, {"velocity.²": velocity}, state)
    with pytest.raises(ng.FileFormatError, match=r"it holds the state array 'fit/velocity.²'; expected fit/<buffer>.<index>"):
        ng.fit(_net(seed=3), X, y, epochs=2, batch_size=7, verbose=False, optimizer="sgd", lr=0.5,
               momentum=0.9, resume_from=ckpt)
