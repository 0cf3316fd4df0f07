"""Checkpoints of :func:`nablagraph.nn.fit`: the training state in one safetensors file.

A checkpoint is a model file (:func:`nablagraph.io.save_checkpoint`) holding the
model's parameters and the optimizer's buffers as tensors, plus the epoch, the
shuffling RNG's state, the history so far and the optimizer's counters as JSON
metadata (never pickle).  :func:`save` writes one; :func:`resume` validates every
field of one before it changes anything, then restores the optimizer, the
parameters, the RNG and the history, so the resumed run continues bit for bit.

This module sits on the ``io`` floor, above ``nn``: it imports ``nn.train`` and
``io`` plainly, and plugs itself into ``fit`` through the one named hook
:func:`nablagraph.nn.train.use_checkpoint_store` when it is loaded (at the first
checkpoint ``fit`` writes or reads, or on ``ng.checkpoints``), unless a store of the
user's own is plugged in.

Imports: ``errors``, ``io``, ``nn.optim``, ``nn.module``, ``nn.train``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from nablagraph import files, io
from nablagraph.errors import ConfigError, FileFormatError
from nablagraph.nn.module import Module
from nablagraph.nn.optim import Optimizer
from nablagraph.nn.train import History, PathLike, use_checkpoint_store

__all__ = ["CHECKPOINT_FORMAT", "save", "resume", "SafetensorsCheckpoints"]


#: Version of the training state stored in checkpoints.
CHECKPOINT_FORMAT = 1

_HISTORY_FIELDS = ("epoch", "train_cost", "train_accuracy", "val_cost", "val_accuracy", "seconds")


def save(
    path: PathLike, model: Module, opt: Optimizer, rng: np.random.Generator,
    history: History, epoch: int, run: dict[str, Any],
) -> None:
    arrays, scalars = opt.state_dict()
    d = history.to_dict()
    state = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "rng": rng.bit_generator.state,
        "optimizer": scalars,
        "run": run,
        "history": {k: d[k] for k in (*_HISTORY_FIELDS, "diagnostics")},
    }
    try:
        json.dumps(state)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"fit: cannot checkpoint the training state as JSON ({exc}); the diagnostics "
            "function must return numbers, strings, lists or dicts (or objects with to_dict())"
        ) from None
    io.save_checkpoint(model, path, arrays, state)


def _is_number(v: Any, none: bool = False) -> bool:
    return (v is None and none) or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _checked_history(h: Any, done: int, fail: Callable[[str], Exception]) -> dict[str, list[Any]]:
    """The saved history, every field type-checked: ``done`` epochs ``1 … done``."""
    if not isinstance(h, dict):
        raise fail(f"its history is {type(h).__name__}, expected a JSON object")
    out: dict[str, list[Any]] = {}
    for k in (*_HISTORY_FIELDS, "diagnostics"):
        v = h.get(k)
        if not isinstance(v, list):
            raise fail(f"its history has {k}={type(v).__name__}, expected a list")
        out[k] = v
    if out["epoch"] != list(range(1, done + 1)) or any(type(e) is not int for e in out["epoch"]):
        raise fail(f"its history lists the epochs {str(out['epoch'])[:60]}, expected 1 … {done}")
    for k in _HISTORY_FIELDS[1:]:
        none = k not in ("train_cost", "seconds")
        if len(out[k]) != done or not all(_is_number(v, none) for v in out[k]):
            raise fail(f"its history has {k} {str(out[k])[:60]}; expected {done} numbers"
                       + (" or nulls" if none else ""))
    if len(out["diagnostics"]) > done:
        raise fail(f"its history has {len(out['diagnostics'])} diagnostics for {done} epochs")
    return out


def _checked_optimizer(scalars: Any, fail: Callable[[str], Exception]) -> dict[str, Any]:
    """The optimizer's saved counters, type-checked (the optimizer checks that they fit it)."""
    if not isinstance(scalars, dict):
        raise fail(f"its optimizer state is {type(scalars).__name__}, expected a JSON object")
    steps = scalars.get("steps")
    if type(steps) is not int or steps < 0:
        raise fail(f"its optimizer state has steps={str(steps)[:60]}, expected a non-negative integer")
    t = scalars.get("t", [])
    if not isinstance(t, list) or not all(type(k) is int and k >= 0 for k in t):
        raise fail(f"its optimizer state has t={str(t)[:60]}, expected non-negative integers")
    return scalars


def resume(
    path: PathLike, model: Module, opt: Optimizer, rng: np.random.Generator,
    history: History, epochs: int, run: dict[str, Any],
) -> int:
    """Restore everything from the checkpoint at ``path``; return the epoch it ended.

    The whole file is validated first — format, checksums, architecture, then every
    field of the state (epoch, run, RNG state, optimizer counters and buffers,
    history) — and only then are the optimizer, the parameters, the RNG and the history
    changed: on any error ``model`` and ``opt`` are untouched.
    """
    params, arrays, state = io.read_checkpoint(model, path)
    where = repr(str(path))

    def fail(why: str) -> Exception:
        return FileFormatError(f"fit: the checkpoint {where} is malformed: {why}")

    if state.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"fit: {where} holds checkpoint format {str(state.get('format'))[:60]}; this "
                          f"version of nablagraph reads format {CHECKPOINT_FORMAT}")
    done = state.get("epoch")
    if type(done) is not int or done < 0:
        raise fail(f"its epoch count is {str(done)[:60]!r}, expected a non-negative integer")
    saved_run = state.get("run")
    if not isinstance(saved_run, dict):
        raise fail(f"its run settings are {type(saved_run).__name__}, expected a JSON object")
    diffs = [f"{k}={str(saved_run.get(k))[:40]} there, {v!r} here" for k, v in run.items()
             if saved_run.get(k) != v]
    if diffs:
        raise ConfigError(f"fit: cannot resume from {where}: the run differs ({'; '.join(diffs)}); "
                          "resume with the same data and batch settings")
    if done > epochs:
        raise ConfigError(f"fit: {where} was saved after epoch {done} but epochs={epochs}; ask for "
                          f"at least {done} epochs")
    fresh = np.random.default_rng(0)
    try:
        fresh.bit_generator.state = state["rng"]
    except Exception as exc:  # whatever the bit generator's setter raises for a bad state
        raise ConfigError(f"fit: the shuffling RNG state in {where} does not fit a "
                          f"{type(rng.bit_generator).__name__} generator ({str(exc)[:100]})") from None
    scalars = _checked_optimizer(state.get("optimizer"), fail)
    for key in arrays:
        if not re.fullmatch(r"[A-Za-z_]\w{0,40}\.[0-9]{1,9}", key, re.ASCII):
            raise fail(f"it holds the state array {'fit/' + key[:60]!r}; expected fit/<buffer>.<index>")
    h = _checked_history(state.get("history"), done, fail)
    opt.load_state_dict(arrays, scalars)  # checks that the state fits, then changes the optimizer
    io.copy_parameters(model, params)
    rng.bit_generator.state = fresh.bit_generator.state
    for k in _HISTORY_FIELDS:
        getattr(history, k).extend(h[k])
    history.diagnostics.extend(h["diagnostics"])
    return done


class SafetensorsCheckpoints:
    """The checkpoint store ``fit`` uses: :func:`save` and :func:`resume` of this module."""

    save = staticmethod(save)
    resume = staticmethod(resume)

    @staticmethod
    def check_target(path: io.PathLike) -> None:
        files.check_write_target(path, "fit: checkpoint_path")


use_checkpoint_store(SafetensorsCheckpoints(), default=True)
