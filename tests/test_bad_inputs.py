"""The bad-input catalogue: every entry gets its exact error class and message.

``CATALOGUE`` is one table of ``(description, call, expected, message regex)``:

* ``call`` is either a function of the :class:`Files` fixture (an API call) or a list
  of command-line arguments for ``nablagraph`` (``{name}`` fields are filled with the
  paths of :class:`Files`);
* ``expected`` is the exception class an API call must raise, or the exit code the
  command must return (then the message is the one line it prints on stderr).

No entry may end in a bare NumPy traceback or a silent wrong result: each test asserts
the class (not a parent such as ``ValueError`` alone) and the message.

``docs/bad-inputs.md`` is generated from the same table, with the messages the code
really produces::

    .venv/bin/python tests/test_bad_inputs.py        # rewrites docs/bad-inputs.md

and ``test_the_docs_page_lists_every_entry`` fails when the page is out of date.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io as _io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import _memory, cli, interop
from nablagraph.nn import Dense, Network, Sequential
from nablagraph.ops import IndexShapeError

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "bad-inputs.md"


@dataclass
class Files:
    """Files the catalogue's file entries read, made fresh in a temporary directory."""

    dir: Path
    good: Path       # a [2, 3, 1] Network
    other: Path      # a [2, 4, 1] Network (another architecture)
    truncated: Path  # the good file cut in half
    edited: Path     # the good file with one data byte changed
    text: Path       # a text file named .safetensors
    missing: Path    # a path that does not exist
    idx: Path        # a text file passed as MNIST IDX images
    # Hostile files (the header re-signed, so the checksums hold):
    deep: Path       # a header whose JSON nests 1,000 deep
    many: Path       # a 2 MB header of a million and one JSON values
    dtypes: Path     # "dtype": ["F64"]
    huge: Path       # "shape": [2**70, 0]
    dims: Path       # a shape of 65 dimensions
    nullsizes: Path  # metadata sizes "null"
    bigsizes: Path   # a 1 KB file whose metadata declares sizes [10000, 20000, 1]
    surrogate: Path  # a lone surrogate in a metadata string
    fifo: Path       # a FIFO (named pipe) with no writer
    epoch: Path      # a checkpoint with "epoch": "abc"
    history: Path    # a checkpoint whose history is a number
    steps: Path      # a checkpoint whose optimizer steps are "abc"
    idxdims: Path    # IDX dimensions (65536,)*4, whose product overflows int64
    bomb: Path       # gzip IDX declaring 5 labels, then 16 MB of zeros
    loop: Path       # a symbolic link to itself
    arrays: Path     # a valid safetensors file of plain arrays (no Network metadata)
    mnist1: Path     # a folder of MNIST IDX files holding one example
    py: Path         # mine.py: textbook networks for check --backprop (Net, and broken ones)

    @classmethod
    def make(cls, d: Path) -> Files:
        good, other = d / "net.safetensors", d / "other.safetensors"
        ng.save(Network([2, 3, 1], seed=0), good)
        ng.save(Network([2, 4, 1], seed=0), other)
        raw = good.read_bytes()
        truncated = d / "truncated.safetensors"
        truncated.write_bytes(raw[: len(raw) // 2])
        edited = d / "edited.safetensors"
        edited.write_bytes(raw[:-3] + bytes([raw[-3] ^ 0xFF]) + raw[-2:])
        text = d / "notes.safetensors"
        text.write_text("these are my notes, not a model\n", encoding="utf-8")
        idx = d / "images.idx"
        idx.write_text("not an IDX file\n", encoding="utf-8")
        hostile = {name: d / f"{name}.safetensors" for name in (
            "deep", "many", "dtypes", "huge", "dims", "nullsizes", "bigsizes", "surrogate", "epoch", "history",
            "steps")}
        body = b'{"W2":' + b"[" * 1000 + b"]" * 1000 + b"}"
        hostile["deep"].write_bytes(len(body).to_bytes(8, "little") + body)
        body = b'{"W2":[' + b"0," * 1_000_000 + b"0]}"
        hostile["many"].write_bytes(len(body).to_bytes(8, "little") + body)

        def tensor(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
            return lambda h: h["W2"].__setitem__(field, value)

        def meta(key: str, value: str) -> Callable[[dict[str, Any]], None]:
            return lambda h: h["__metadata__"].__setitem__(key, value)

        for name, edit in (("dtypes", tensor("dtype", ["F64"])), ("huge", tensor("shape", [2**70, 0])),
                           ("dims", tensor("shape", [1] * 65)), ("nullsizes", meta("sizes", "null")),
                           ("bigsizes", meta("sizes", "[10000, 20000, 1]")), ("surrogate", meta("model", "\ud800"))):
            hostile[name].write_bytes(_resigned(raw, edit))
        ckpt = d / "run.safetensors"
        ng.fit(_net(), XOR_X, XOR_Y, epochs=1, batch_size=2, verbose=False, checkpoint_every=1, checkpoint_path=ckpt)
        for name, edit in (("epoch", _state("epoch", "abc")), ("history", _state("history", 3)),
                           ("steps", _state("optimizer", {"steps": "abc"}))):
            hostile[name].write_bytes(_resigned(ckpt.read_bytes(), edit))
        fifo = d / "pipe.safetensors"
        os.mkfifo(fifo)
        loop = d / "loop.safetensors"
        loop.symlink_to(loop.name)
        arrays = d / "arrays.safetensors"
        ng.io.save_file({"a": np.zeros(3)}, arrays)
        mnist1 = d / "mnist1"
        mnist1.mkdir()
        (mnist1 / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (1, 4, 4)) + bytes(16))
        (mnist1 / "train-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01" + (1).to_bytes(4, "big") + bytes(1))
        idxdims = d / "dims.idx"
        idxdims.write_bytes(b"\0\0\x08\x04" + (65536).to_bytes(4, "big") * 4 + bytes(16))
        bomb = d / "labels.idx.gz"
        bomb.write_bytes(gzip.compress(b"\0\0\x08\x01" + (5).to_bytes(4, "big") + bytes(16 << 20)))
        hostile["py"] = d / "mine.py"  # (not hostile: the user's backprop, for check --backprop)
        hostile["py"].write_text(_MINE_PY, encoding="utf-8")
        return cls(d, good, other, truncated, edited, text, d / "absent.safetensors", idx,
                   fifo=fifo, idxdims=idxdims, bomb=bomb, loop=loop, arrays=arrays, mnist1=mnist1, **hostile)


def _resigned(raw: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """A safetensors file with its header edited and both checksums recomputed."""
    n = int.from_bytes(raw[:8], "little")
    header, data = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    edit(header)
    meta = header["__metadata__"]
    meta["data_sha256"] = hashlib.sha256(data).hexdigest()
    with contextlib.suppress(UnicodeEncodeError):  # (a lone surrogate cannot be hashed)
        meta["header_sha256"] = hashlib.sha256(ng.io._canonical(header)).hexdigest()
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text + data


def _state(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit of one entry of a checkpoint's training state."""
    def edit(header: dict[str, Any]) -> None:
        state = json.loads(header["__metadata__"]["checkpoint"])
        state[key] = value
        header["__metadata__"]["checkpoint"] = json.dumps(state)

    return edit


Call = Callable[[Files], Any] | list[str]


@dataclass
class Entry:
    """One catalogue row."""

    description: str
    call: Call
    expected: type[BaseException] | int
    message: str  # a regex searched for in the message


def _net() -> Network:
    return Network([2, 3, 1], seed=0)


XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0, 1, 1, 0])


def _fit(resume_from_file: str | None = None, **kw: Any) -> Callable[[Files], Any]:
    def call(f: Files) -> Any:
        args: dict[str, Any] = {"X": XOR_X, "Y": XOR_Y, "epochs": 1, "batch_size": 2, "verbose": False}
        args.update(kw)
        if resume_from_file is not None:  # a path of the Files fixture
            args["resume_from"] = getattr(f, resume_from_file)
        return ng.fit(_net(), **args)

    return call


def _nan_x() -> np.ndarray:
    x = XOR_X.copy()
    x[2, 1] = np.nan
    return x


def _backward_twice(_: Files) -> None:
    x = ng.Tensor(np.ones(3), requires_grad=True)
    c = (x * x).sum()
    c.backward()
    c.backward()


def _freed_by_a_temporary() -> ng.Tensor:
    net = _net()
    a = net(XOR_X)
    ng.quadratic_cost(a, XOR_Y[:, None]).backward()  # nothing holds the cost
    return a


def _backward_after_drawing(_: Files) -> None:
    C = _net().cost(XOR_X, XOR_Y[:, None])
    C.backward()
    ng.viz.to_dot(C)  # draws the freed graph (its shape was kept) ...
    C.backward()  # ... but does not bring it back


def _step_without_backward(_: Files) -> None:
    ng.SGD(_net(), lr=0.1).step()


def _too_large(_: Files) -> Any:
    # The same message on every machine: the memory available is fixed at 8 GB.
    with mock.patch.object(_memory, "available_memory", lambda: 8 * 10**9):
        return Network([2, 10**9, 1])


def _chain(_: Files) -> Any:
    return Sequential(Dense(2, 3), Dense(4, 1))(np.ones((5, 2)))


# The calls that import torch or onnx run in one child process: importing them here would
# raise this process's ru_maxrss, which every later subprocess inherits (the campaign of
# tests/test_fuzz_files.py bounds its own).
_INTEROP_CHILD = """
import json, numpy as np, torch
import nablagraph as ng
from nablagraph import interop
nn = torch.nn
calls = {
    "dropout": lambda: interop.from_torch(nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5))),
    "no bias": lambda: interop.from_torch(nn.Sequential(nn.Linear(2, 4, bias=False))),
    "two activations": lambda: interop.from_torch(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Tanh())),
    "mask": lambda: interop.to_onnx(ng.Tensor(np.ones((3, 2)), requires_grad=True)[np.array([True, False, True])]),
}
out = {}
for key, call in calls.items():
    try:
        call()
        out[key] = ["", ""]
    except Exception as e:
        out[key] = [type(e).__name__, str(e)]
print(json.dumps(out))
"""


@functools.lru_cache(maxsize=1)
def _interop_errors() -> dict[str, list[str]]:
    proc = subprocess.run([sys.executable, "-c", _INTEROP_CHILD], capture_output=True, text=True,
                          timeout=600, check=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _interop(key: str) -> Callable[[Files], Any]:
    def call(f: Files) -> None:
        name, message = _interop_errors()[key]
        if name:  # the child's exception, its class and message as they were
            raise getattr(ng, name)(message)

    return call


def _torch_file(f: Files) -> Path:
    path = f.dir / "torch.safetensors"  # PyTorch's names and dtype, as save_file(state_dict()) writes
    ng.io.save_file({"0.weight": np.ones((3, 2), np.float32), "0.bias": np.ones(3, np.float32),
                     "2.weight": np.ones((1, 3), np.float32), "2.bias": np.ones(1, np.float32)}, path)
    return path


def _freed_cost() -> Any:
    C = _net().cost(XOR_X, XOR_Y[:, None].astype(float))
    C.backward()
    return C


async def _coroutine_function() -> None:
    """An ``async def`` (for the no_grad decorator entry)."""


CATALOGUE: list[Entry] = [
    # ------------------------------------------------------------------ ops
    Entry("matmul of misaligned matrices (forgot W.T)",
          lambda f: ng.matmul(np.ones((10, 784)), np.ones((30, 784))),
          ng.ShapeError, r"matmul: shapes \(10, 784\) and \(30, 784\) are not aligned"),
    Entry("add of shapes that do not broadcast",
          lambda f: ng.add(np.ones((2, 3)), np.ones(4)),
          ng.ShapeError, r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast together"),
    Entry("reshape to a different number of elements",
          lambda f: ng.reshape(np.ones(6), (4,)),
          ng.ShapeError, r"reshape: cannot reshape a tensor of shape \(6,\) \(6 elements\) into shape \(4,\)"),
    Entry("transpose with axes that are not a permutation",
          lambda f: ng.transpose(np.ones((2, 3)), (0, 0)),
          ng.ShapeError, r"transpose: axes \(0, 0\) are not a permutation of the 2 axes"),
    Entry("index out of range",
          lambda f: ng.Tensor(np.ones(3))[5],
          IndexShapeError, r"getitem: index 5 is invalid for a tensor of shape \(3,\)"),
    Entry("concatenate of tensors whose other axes differ",
          lambda f: ng.concatenate([np.ones((2, 3)), np.ones((2, 4))], axis=0),
          ng.ShapeError, r"concatenate: cannot join shapes .* along axis 0"),
    Entry("requires_grad on integer data",
          lambda f: ng.Tensor(np.arange(3), requires_grad=True),
          ng.DTypeError, r"Tensor: requires_grad=True needs floating-point data, got int64"),
    Entry("a tensor of strings",
          lambda f: ng.Tensor(np.array(["a", "b"])),
          ng.DTypeError, r"Tensor: cannot hold data of dtype <U1; expected floating-point, integer or boolean"),
    Entry("clip with min greater than max",
          lambda f: ng.clip(np.ones(3), 1.0, 0.0),
          ng.ConfigError, r"clip: min \(1.0\) must not exceed max \(0.0\)"),
    # ---------------------------------------------------------------- graph
    Entry("backward() of a non-scalar without a gradient",
          lambda f: ng.Tensor(np.ones(3), requires_grad=True).__mul__(2.0).backward(),
          ng.GraphError, r"backward: the gradient can be implied only for a one-element output, but this output has shape \(3,\)"),
    Entry("second backward() after the graph was freed",
          _backward_twice, ng.GraphError, r"backward: the graph through 'sum' .* was already freed .* pass retain_graph=True"),
    Entry("optimizer step() before backward()",
          _step_without_backward, ng.GraphError,
          r"SGD.step: no parameter has a gradient; call backward\(\) on the cost before step\(\)"),
    Entry("gradcheck of a float32 input",
          lambda f: ng.gradcheck(lambda t: t.sum(), [ng.Tensor(np.ones(2, np.float32), requires_grad=True)]),
          ng.GradcheckError, r"gradcheck: input 0 is float32; finite differences need float64"),
    # ---------------------------------------------------------------- costs
    Entry("cost with outputs and targets of different shapes",
          lambda f: ng.quadratic_cost(np.ones((4, 2)), np.ones((4, 3))),
          ng.ShapeError, r"quadratic_cost: outputs have shape \(4, 2\) but targets have shape \(4, 3\)"),
    Entry("NaN in the targets of a cost",
          lambda f: ng.mse_loss(np.ones((2, 2)), np.array([[1.0, np.nan], [0.0, 0.0]])),
          ng.LabelError, r"mse_loss: targets contain NaN \(1 of 4 values\)"),
    Entry("binary cross-entropy targets outside [0, 1]",
          lambda f: ng.binary_cross_entropy(np.full((2, 1), 0.5), np.array([[0.0], [2.0]])),
          ng.LabelError, r"binary_cross_entropy: targets must lie in \[0, 1\], got values in \[0, 2\]"),
    Entry("cross-entropy class label out of range",
          lambda f: ng.cross_entropy(np.zeros((3, 4)), np.array([0, 4, 1])),
          ng.LabelError, r"cross_entropy: class labels must be in \[0, 3\] for 4 classes, got 4"),
    Entry("cross-entropy class labels stored as floats",
          lambda f: ng.cross_entropy(np.zeros((3, 4)), np.array([0.0, 2.0, 1.0])),
          ng.LabelError, r"class labels must be integers \(y.astype\(np.int64\)\)"),
    # --------------------------------------------------------------- models
    Entry("Network with a single layer size",
          lambda f: Network([3]),
          ng.ConfigError, r"Network: sizes must list at least an input and an output layer, got \[3\]"),
    Entry("Network with a zero-width layer",
          lambda f: Network([2, 0, 1]),
          ng.ConfigError, r"Network: sizes\[1\] must be a positive integer, got 0"),
    Entry("Network with an unknown activation",
          lambda f: Network([2, 3, 1], activation="sigmoidd"),
          ng.ConfigError, r"activation: unknown activation 'sigmoidd'; expected one of sigmoid, tanh"),
    Entry("Network given one example as a 1-D array",
          lambda f: _net()(np.ones(2)),
          ng.ShapeError, r"Network: got a 1-D input of shape \(2,\); batches are rows, so pass X.reshape\(1, 2\)"),
    Entry("Network input of the wrong width",
          lambda f: _net()(np.ones((4, 5))),
          ng.ShapeError, r"Network: input has shape \(4, 5\) but the network expects \(M, 2\)"),
    Entry("Network given an empty batch",
          lambda f: _net()(np.ones((0, 2))),
          ng.ShapeError, r"Network: the batch is empty \(0 rows\)"),
    Entry("layer sizes that do not chain",
          _chain, ng.ShapeError, r"Dense layer 3: input of shape \(5, 3\) has 3 features, expected 4"),
    # ------------------------------------------------------------ training
    Entry("fit with learning rate 0", _fit(lr=0.0),
          ng.ConfigError, r"SGD: lr \(the learning rate η\) must be positive, got 0.0"),
    Entry("fit with a negative learning rate", _fit(lr=-0.5),
          ng.ConfigError, r"SGD: lr \(the learning rate η\) must be positive, got -0.5"),
    Entry("fit with batch size 0", _fit(batch_size=0),
          ng.ConfigError, r"fit: batch_size must be at least 1, got 0"),
    Entry("fit with a negative number of epochs", _fit(epochs=-1),
          ng.ConfigError, r"fit: epochs must be at least 0, got -1"),
    Entry("fit on an empty batch", _fit(X=np.zeros((0, 2)), Y=np.zeros(0, dtype=int)),
          ng.DataError, r"fit: X is empty \(0 examples, shape \(0, 2\)\)"),
    Entry("fit on data with NaN", _fit(X=_nan_x()),
          ng.DataError, r"fit: X contains NaN \(1 of 8 values, first at row 2, column 1: nan\)"),
    Entry("fit with fewer targets than examples", _fit(Y=XOR_Y[:3]),
          ng.ShapeError, r"fit: Y has 3 rows \(shape \(3,\)\) but the inputs have 4 rows"),
    Entry("fit with class labels out of range", _fit(Y=np.array([0, 1, 2, 0])),
          ng.LabelError, r"fit: Y holds class labels, which must be in \[0, 1\] .* got 2"),
    Entry("fit with NaN targets", _fit(Y=np.array([[0.0], [np.nan], [1.0], [0.0]])),
          ng.LabelError, r"fit: Y contains NaN \(1 of 4 values, first at row 1, column 0"),
    Entry("fit on text data", _fit(X=np.array([["a", "b"]] * 4)),
          ng.DTypeError, r"fit: X must hold numbers, got dtype <U1"),
    Entry("SGD with momentum 1", lambda f: ng.SGD(_net(), lr=0.1, momentum=1.0),
          ng.ConfigError, r"SGD: momentum must be in \[0, 1\), got 1.0"),
    Entry("Adam with a beta outside [0, 1)", lambda f: ng.Adam(_net(), betas=(0.9, 1.5)),
          ng.ConfigError, r"Adam: betas\[1\] must be in \[0, 1\), got 1.5"),
    # ---------------------------------------------------------------- files
    Entry("load a file that does not exist", lambda f: ng.load(f.missing),
          FileNotFoundError, r"No such file or directory: .*absent.safetensors"),
    Entry("load a text file (wrong file)", lambda f: ng.load(f.text),
          ng.FileFormatError, r"notes.safetensors': the first 8 bytes give a header length of \d+ bytes but 24 bytes follow; this is not a safetensors file"),
    Entry("load a truncated file", lambda f: ng.load(f.truncated),
          ng.FileFormatError, r"truncated.safetensors': the first 8 bytes give a header length of 920 bytes but 508 bytes follow"),
    Entry("load a file whose data was edited", lambda f: ng.load(f.edited),
          ng.FileFormatError, r"data checksum mismatch"),
    Entry("load_into a model of another architecture", lambda f: ng.io.load_into(_net(), f.other),
          ng.ShapeError, r"load_into: .*other.safetensors.* holds a Network with sizes \[2, 4, 1\]"),
    Entry("save something that is not a model", lambda f: ng.save(np.ones(3), f.dir / "x.safetensors"),  # type: ignore[arg-type]
          ng.ConfigError, r"save: expected a nablagraph Module, got ndarray"),
    Entry("MNIST loader given a file that is not IDX",
          lambda f: ng.data.load_mnist_idx(f.idx, f.idx),
          ng.FileFormatError, r"load_mnist_idx: .*images.idx' is not an IDX file: its magic number starts with bytes 0x6e 0x6f"),
    # --- targets, inputs and model sizes
    Entry("fit with inf in the targets (quadratic cost)", _fit(Y=np.array([[0.0], [np.inf], [1.0], [0.0]])),
          ng.LabelError, r"fit: Y contains infinite values \(1 of 4 values, first at row 1, column 0: inf\); targets must be finite"),
    Entry("fit with inf in the validation targets",
          _fit(validation_data=(XOR_X, np.array([[0.0], [1.0], [np.inf], [0.0]]))),
          ng.LabelError, r"fit: validation Y contains infinite values \(1 of 4 values, first at row 2, column 0: inf\)"),
    Entry("fit with NaN in the validation inputs", _fit(validation_data=(_nan_x(), XOR_Y)),
          ng.DataError, r"fit: validation X contains NaN \(1 of 8 values, first at row 2, column 1: nan\)"),
    Entry("fit with negative cross-entropy targets",
          lambda f: ng.fit(Network([2, 3, 2], cost="cross_entropy", seed=0), XOR_X,
                           np.array([[1.0, 0.0], [0.0, 1.0], [1.5, -0.5], [1.0, 0.0]]), 1, 2, verbose=False),
          ng.LabelError, r"fit: Y holds -0.5 at row 2, column 1 \(1 of 8 values negative\); cross_entropy targets must be non-negative"),
    Entry("cross-entropy with a negative probability target",
          lambda f: ng.cross_entropy(np.zeros((2, 3)), np.array([[0.5, 0.5, 0.0], [1.2, -0.2, 0.0]])),
          ng.LabelError, r"cross_entropy: targets must be non-negative \(one-hot rows or probabilities\), got -0.2 at index \(1, 1\)"),
    Entry("fit with binary cross-entropy targets outside [0, 1]",
          lambda f: ng.fit(Network([2, 3, 1], cost="bce", seed=0), XOR_X,
                           np.array([[0.0], [1.0], [2.0], [0.0]]), 1, 2, verbose=False),
          ng.LabelError, r"fit: Y holds 2 at row 2, column 0 \(1 of 4 values outside \[0, 1\]\); binary_cross_entropy targets must lie in \[0, 1\]"),
    Entry("fit with validation class labels out of range", _fit(validation_data=(XOR_X, np.array([0, 1, 3, 0]))),
          ng.LabelError, r"fit: validation Y holds class labels, which must be in \[0, 1\] .* got 3 at row 2"),
    Entry("cost with infinite targets",
          lambda f: ng.quadratic_cost(np.ones((2, 2)), np.array([[1.0, 0.0], [0.0, -np.inf]])),
          ng.LabelError, r"quadratic_cost: targets contain infinite values \(1 of 4 values\); the first is at index \(1, 1\)"),
    Entry("fit on a ragged list of examples", _fit(X=[[0, 0], [0, 1], [1], [1, 1]]),
          ng.ShapeError, r"fit: X is ragged: row 0 has 2 values but row 2 has 1 value"),
    Entry("fit with ragged targets", _fit(Y=[[0], [1], [1, 0], [0]]),
          ng.ShapeError, r"fit: Y is ragged: row 0 has 1 value but row 2 has 2 values"),
    Entry("fit on complex data", _fit(X=XOR_X + 1j),
          ng.DTypeError, r"fit: X must hold numbers, got dtype complex128 \(complex\)"),
    Entry("fit with validation targets that are strings",
          _fit(validation_data=(XOR_X, np.array(["0", "1", "1", "0"]))),
          ng.DTypeError, r"fit: validation Y must hold numbers, got dtype <U1 \(strings\)"),
    Entry("fit with validation inputs of another width", _fit(validation_data=(np.zeros((3, 5)), np.array([0, 1, 1]))),
          ng.ShapeError, r"fit: validation X has shape \(3, 5\) but X has shape \(4, 2\)"),
    Entry("fit on data so large the first cost overflows", _fit(X=XOR_X * 1e300, Y=XOR_Y.reshape(-1, 1) * 1e300),
          ng.DataError, r"fit: the cost is inf on the first batch, before any update \(the data are finite\)"),
    Entry("Network(None)", lambda f: Network(None),  # type: ignore[arg-type]
          ng.ConfigError, r"Network: sizes must be a list of layer sizes \(ints, input first, .*\), got None"),
    Entry("Network sizes given as a string", lambda f: Network("784,30,10"),  # type: ignore[arg-type]
          ng.ConfigError, r"got the string '784,30,10'; did you mean \[784, 30, 10\]\?"),
    Entry("Network with a fractional layer size", lambda f: Network([2, 2.5, 1]),  # type: ignore[list-item]
          ng.ConfigError, r"Network: sizes\[1\] must be a positive integer, got 2.5 \(float\)"),
    Entry("Network with a size no array can have", lambda f: Network([2**63, 1]),
          ng.ConfigError, r"Network: sizes\[0\] = 9223372036854775808 is larger than the largest array dimension"),
    Entry("Network too large for the memory available", _too_large,
          ng.ResourceError, r"Network: sizes \[2, 1000000000, 1\] need 32.0 GB for parameters \(float64\) but only 8.0 GB of memory is available"),
    Entry("Network with an integer dtype", lambda f: Network([2, 3, 1], dtype=np.int64),
          ng.DTypeError, r"Network: parameters must be floating-point, got dtype int64"),
    # --- raster output budget (PNG, JPEG)
    Entry("PNG bigger than the pixel budget even at 60 dpi",
          lambda f: ng.viz.render(ng.viz.to_graphviz((ng.Tensor(np.ones(3), requires_grad=True) * 2.0).sum()), f.dir / "big.png", max_pixels=10_000),
          ng.viz.RasterTooLargeError,
          r"render: a PNG of this diagram would be [\d,]+ × [\d,]+ px \([\d.,]+ Mpx\) at 96 dpi, and [\d,]+ × [\d,]+ px "
          r"\([\d.,]+ Mpx\) even at 60 dpi, the smallest readable scale; the budget is max_pixels=10,000 and "
          r"32,767 px a side\. Write SVG instead .*collapse='layers'.*max_nodes=200.*raise max_pixels"),
    Entry("PNG of a tensor with max_nodes given, over the budget",
          lambda f: ng.viz.render((ng.Tensor(np.ones(3), requires_grad=True) * 2.0).sum(), f.dir / "big.png", max_nodes=50, max_pixels=10_000),
          ng.viz.RasterTooLargeError, r"render: a PNG of this diagram would be .* even at 60 dpi"),
    Entry("render with dpi 0", lambda f: ng.viz.render((ng.Tensor(np.ones(3), requires_grad=True) * 2.0).sum(), f.dir / "g.png", dpi=0),
          ng.ConfigError, r"render: dpi must be a positive number \(96 is the default\), got 0"),
    Entry("Diagram.png with a dpi that is not a number",
          lambda f: ng.viz.to_graphviz((ng.Tensor(np.ones(3), requires_grad=True) * 2.0).sum()).png(dpi="300"),  # type: ignore[arg-type]
          ng.ConfigError, r"Diagram.png: dpi must be a positive number \(96 is the default\), got '300'"),
    Entry("render with max_pixels 0", lambda f: ng.viz.render((ng.Tensor(np.ones(3), requires_grad=True) * 2.0).sum(), f.dir / "g.png", max_pixels=0),
          ng.ConfigError, r"render: max_pixels must be a positive integer \(width × height; the default is 32,000,000\), got 0"),
    # --- hostile weight files, checkpoints and IDX files
    Entry("load a file whose header JSON nests 1,000 deep", lambda f: ng.load(f.deep),
          ng.FileFormatError, r"deep.safetensors': the header nests JSON 1001 levels deep; at most 64 are allowed"),
    Entry("load a 2 MB header of a million and one JSON values", lambda f: ng.load(f.many),
          ng.FileFormatError, r"many.safetensors': the header holds 1000001 JSON values; at most 1000000 are allowed"),
    Entry("load a file whose tensor dtype is a list", lambda f: ng.load(f.dtypes),
          ng.FileFormatError, r"tensor 'W2' has dtype \['F64'\]; supported here: F64, F32"),
    Entry("load a file whose tensor shape is [2**70, 0]", lambda f: ng.load(f.huge),
          ng.FileFormatError, r"tensor 'W2': shape \(1180591620717411303424, 0\) of F64 needs 0 bytes but data_offsets \[0, 48\] span 48"),
    Entry("load a file whose tensor has 65 dimensions", lambda f: ng.load(f.dims),
          ng.FileFormatError, r"tensor 'W2' has 65 dimensions; at most 32 are supported"),
    Entry("load a file whose metadata sizes is null", lambda f: ng.load(f.nullsizes),
          ng.FileFormatError, r"__metadata__ sizes 'null' is not a JSON list of at least two positive integers"),
    Entry("load a 1 KB file declaring sizes [10000, 20000, 1]", lambda f: ng.load(f.bigsizes),
          ng.FileFormatError, r"__metadata__ sizes \[10000, 20000, 1\] need W2 of shape \(20000, 10000\) but the file holds W2 of shape \(3, 2\); the metadata does not describe the tensors"),
    Entry("load a file with a lone surrogate in its metadata", lambda f: ng.load(f.surrogate),
          ng.FileFormatError, r"the header holds the string '\\ud800' with a lone surrogate"),
    Entry("load a FIFO (named pipe)", lambda f: ng.load(f.fifo),
          ng.FileFormatError, r"load: '.*pipe.safetensors' is a FIFO \(named pipe\), not a regular file; give the path of a file"),
    Entry("load /dev/zero", lambda f: ng.load("/dev/zero"),
          ng.FileFormatError, r"load: '/dev/zero' is a character device, not a regular file"),
    Entry("load_into from a directory", lambda f: ng.io.load_into(_net(), f.dir),
          IsADirectoryError, r"load_into: is a directory, not a file"),
    Entry("resume from a checkpoint whose epoch is 'abc'", _fit(resume_from_file="epoch"),
          ng.FileFormatError, r"fit: the checkpoint .*epoch.safetensors' is malformed: its epoch count is 'abc', expected a non-negative integer"),
    Entry("resume from a checkpoint whose history is a number", _fit(resume_from_file="history"),
          ng.FileFormatError, r"is malformed: its history is int, expected a JSON object"),
    Entry("resume from a checkpoint whose optimizer steps are 'abc'", _fit(resume_from_file="steps"),
          ng.FileFormatError, r"is malformed: its optimizer state has steps=abc, expected a non-negative integer"),
    Entry("IDX file whose dimensions (65536,)*4 overflow int64", lambda f: ng.data.read_idx(f.idxdims),
          ng.FileFormatError, r"read_idx: .*dims.idx' is truncated: dimensions \(65536, 65536, 65536, 65536\) of uint8 need 18446744073709551636 bytes, the file has 36"),
    Entry("gzip IDX that inflates far beyond its header (a gzip bomb)", lambda f: ng.data.read_idx(f.bomb),
          ng.FileFormatError, r"labels.idx.gz' is longer than its header says: dimensions \(5,\) of uint8 need 13 bytes, the decompressed file has more"),
    # --- threads and gradient state
    Entry("set_grad_enabled given a string", lambda f: ng.set_grad_enabled("no"),  # type: ignore[arg-type]
          ng.ConfigError, r"set_grad_enabled: mode must be True or False, got 'no' \(str\)"),
    Entry("no_grad used as a decorator on a value", lambda f: ng.no_grad()(3),  # type: ignore[type-var]
          ng.ConfigError, r"no_grad: used as a decorator on int; expected a function"),
    Entry("no_grad decorating an async def", lambda f: ng.no_grad()(_coroutine_function),
          ng.ConfigError, r"no_grad: cannot decorate the coroutine function '_coroutine_function': its body runs later"),
    # --- what save writes onto: no device, pipe or link loop replaced, no lone surrogate
    Entry("save with a lone surrogate in the metadata", lambda f: ng.save(_net(), f.dir / "s.safetensors", {"note": "caf\udce9"}),
          ng.ConfigError, r"save_file: the metadata value of 'note' holds a lone surrogate '\\udce9' at index 3, which UTF-8 cannot encode"),
    Entry("save_file with a lone surrogate in a tensor name", lambda f: ng.io.save_file({"W\udc80": np.eye(2)}, f.dir / "s.safetensors"),
          ng.ConfigError, r"save_file: the tensor name 'W\\udc80' holds a lone surrogate"),
    Entry("save onto a FIFO (named pipe)", lambda f: ng.save(_net(), f.fifo),
          ng.FileFormatError, r"save: '.*pipe.safetensors' is a FIFO \(named pipe\), not a regular file; give the path of a file"),
    Entry("save onto a folder", lambda f: ng.save(_net(), f.dir),
          IsADirectoryError, r"save: is a directory, not a file"),
    Entry("save onto a symbolic link that points to itself", lambda f: ng.save(_net(), f.loop),
          OSError, r"save: the symbolic link loops \(too many levels of symbolic links\)"),
    Entry("render a graph onto a FIFO (it would block)", lambda f: ng.viz.render(_net().cost(XOR_X, XOR_Y[:, None]), f.fifo, format="dot"),
          ng.FileFormatError, r"render: '.*pipe.safetensors' is a FIFO \(named pipe\), not a regular file"),
    Entry("save with metadata that is not a mapping", lambda f: ng.save(_net(), f.dir / "s.safetensors", "note"),
          ng.ConfigError, r"save: metadata must be a mapping of str to str, got str"),
    Entry("save_file with a ragged nested list", lambda f: ng.io.save_file({"a": [[1.0], [2.0, 3.0]]}, f.dir / "s.safetensors"),
          ng.ShapeError, r"save_file: tensor 'a' is ragged \(rows of different lengths\); give an array with one shape"),
    Entry("save_file given a list of pairs, not a mapping", lambda f: ng.io.save_file([("a", np.zeros(2))], f.dir / "s.safetensors"),
          ng.ConfigError, r"save_file: tensors must be a mapping of names to arrays, got list"),
    Entry("render something that is not a graph", lambda f: ng.viz.render([1, 2], f.dir / "g.svg"),
          ng.DTypeError, r"render: expected a Tensor or a diagram from to_graphviz, got list"),
    Entry("concatenate of no tensors", lambda f: ng.concatenate([]),
          ng.ShapeError, r"concatenate: need at least one tensor"),
    Entry("gradcheck with an unknown mode",
          lambda f: ng.gradcheck(lambda t: t * t, [ng.Tensor(np.ones(2), requires_grad=True)], mode="exact"),
          ng.ConfigError, r"gradcheck: mode must be 'auto', 'full' or 'random', got 'exact'"),
    Entry("load given an int instead of a path", lambda f: ng.load(3),
          ng.ConfigError, r"load: expected a file path \(str or os.PathLike\), got int"),
    Entry("fit with a 1-D X of one example", lambda f: ng.fit(_net(), np.zeros(2), np.array([0]), epochs=1, batch_size=1),
          ng.ShapeError, r"fit: X is 1-D \(shape \(2,\)\) but a Network takes one example per row, shape \(M, 2\); pass X.reshape\(1, 2\) for one example"),
    Entry("fit with a checkpoint_path in a folder that does not exist (refused before the first epoch)",
          _fit(checkpoint_every=1, checkpoint_path="nowhere/run.safetensors"),
          FileNotFoundError, r"fit: checkpoint_path: the directory 'nowhere' does not exist; create it first"),
    # --- op registry facts
    Entry("defop with a misspelt kind",
          lambda f: ng.ops.defop("cube", np.negative, lambda *a: a, "x³", kind="elementwse"),
          ng.ConfigError, r"defop: op 'cube' has kind 'elementwse'; expected one of arithmetic, elementwise, activation"),
    Entry("defop of an activation without its Lipschitz bound",
          lambda f: ng.ops.defop("swish", np.negative, lambda *a: a, "z σ(z)", kind="activation"),
          ng.ConfigError, r"defop: activation op 'swish' needs lipschitz= \(sup \|σ'\|"),
    Entry("defop of a cost without its cost name",
          lambda f: ng.ops.defop("hinge", np.negative, lambda *a: a, "max(0, 1 − y a)", kind="cost"),
          ng.ConfigError, r"defop: cost op 'hinge' needs cost= \(the network cost name"),
    Entry("cross_entropy cost on a softplus output layer",
          lambda f: ng.nn.Network([2, 3], output_activation="softplus", cost="cross_entropy",
                                  seed=0).cost(np.ones((4, 2)), np.zeros(4, dtype=np.int64)),
          ng.ConfigError, r"Network: the cross_entropy cost needs a softmax output layer, got softplus"),
    # --- draw after backward
    Entry("draw below a tensor whose graph the backward of a temporary freed",
          lambda f: ng.viz.to_dot(_freed_by_a_temporary()), ng.GraphError,
          r"viz: cannot draw the graph: this tensor \(op 'sigmoid', shape \(4, 1\)\) was freed by "
          r"an earlier backward\(\) on a tensor nothing held.*hold the tensor you call backward\(\) on"),
    Entry("second backward() after drawing the freed graph",
          _backward_after_drawing, ng.GraphError,
          r"backward: the graph through 'quadratic_cost' .* was already freed .* pass retain_graph=True"),
    # --- gradient checks of any model (compare_gradients with a cost)
    Entry("compare_gradients on a user's module without a cost (it has no .cost)",
          lambda f: ng.compare_gradients(Sequential(Dense(2, 3, rng=0), Dense(3, 1, rng=1)),
                                         XOR_X, XOR_Y[:, None]),
          ng.ConfigError, r"compare_gradients: Sequential has no cost\(X, Y\) method, so the cost must "
          r"be given: cost='quadratic' \(one of quadratic, mse, binary_cross_entropy, cross_entropy\)"),
    Entry("compare_gradients with an unknown cost name",
          lambda f: ng.compare_gradients(Sequential(Dense(2, 1, rng=0)), XOR_X, XOR_Y[:, None], cost="hinge"),
          ng.ConfigError, r"compare_gradients: unknown cost 'hinge'; expected one of quadratic, mse, "
          r"binary_cross_entropy, cross_entropy or a callable \(output, Y\) -> Tensor"),
    Entry("compare_gradients of a module on X with the wrong number of features",
          lambda f: ng.compare_gradients(Sequential(Dense(3, 1, rng=0)), XOR_X, XOR_Y[:, None], cost="quadratic"),
          ng.ShapeError, r"compare_gradients: the model's forward failed on X of shape \(4, 2\): Dense "
          r"layer 2: input of shape \(4, 2\) has 2 features, expected 3"),
    Entry("compare_gradients with targets Y of the wrong shape for the model's output",
          lambda f: ng.compare_gradients(Sequential(Dense(2, 3, rng=0)), XOR_X, XOR_Y[:, None], cost="quadratic"),
          ng.ShapeError, r"compare_gradients: the cost failed on the model's output of shape \(4, 3\) and "
          r"Y of shape \(4, 1\): quadratic_cost: outputs have shape \(4, 3\) but targets have shape \(4, 1\)"),
    Entry("compare_gradients with a cost function that is not averaged to one number",
          lambda f: ng.compare_gradients(Sequential(Dense(2, 1, rng=0)), XOR_X, XOR_Y[:, None],
                                         cost=lambda a, y: (a - y) ** 2),
          ng.ShapeError, r"compare_gradients: the cost must be a scalar \(one number\), got a Tensor of "
          r"shape \(4, 1\); average it over the batch"),
    Entry("compare_gradients of a plain function without parameters=",
          lambda f: ng.compare_gradients(lambda X: X, XOR_X, XOR_Y[:, None], cost="quadratic"),
          ng.ConfigError, r"compare_gradients: a function has no named_parameters\(\); pass a Module, or a "
          r"function of tensors with parameters="),
    Entry("compare_gradients of a function whose parameter does not require grad",
          lambda f: ng.compare_gradients(lambda X: X, XOR_X, XOR_Y[:, None], cost="quadratic",
                                         parameters={"W": ng.Tensor(np.ones(2))}),
          ng.ConfigError, r"compare_gradients: parameter 'W' must be a Tensor with requires_grad=True, got "
          r"Tensor without requires_grad"),
    # --- check_backprop: the user's own backprop (mine.py defines Net and broken variants)
    Entry("check_backprop of a network whose w^3 has the wrong shape",
          lambda f: ng.check_backprop(ng.check.load_user_object(f"{f.py}:WrongShape"), sizes=[3, 4, 2]),
          ng.ShapeError, r"check_backprop: weights\[1\] \(w\^3\) has shape \(4, 2\); sizes \[3, 4, 2\] need "
          r"\(2, 4\) = \(n_3, n_2\), row j holding the weights into neuron j"),
    Entry("check_backprop of a network whose biases are rows, not columns",
          lambda f: ng.check_backprop(ng.check.load_user_object(f"{f.py}:RowBias"), sizes=[3, 4, 2]),
          ng.ShapeError, r"check_backprop: biases\[0\] \(b\^2\) has shape \(1, 4\); sizes \[3, 4, 2\] need a column \(4, 1\)"),
    Entry("check_backprop of a backprop that returns nabla_w only",
          lambda f: ng.check_backprop(ng.check.load_user_object(f"{f.py}:OneList"), sizes=[3, 4, 2]),
          ng.GradcheckError, r"check_backprop: backprop\(x, y\) returned a list of 2 arrays; expected the pair "
          r"\(nabla_b, nabla_w\): two lists with one array per weighted layer \(2\)"),
    Entry("check_backprop of a backprop that returns one layer too few",
          lambda f: ng.check_backprop(ng.check.load_user_object(f"{f.py}:TooFew"), sizes=[3, 4, 2]),
          ng.GradcheckError, r"check_backprop: backprop\(x, y\) returned 1 array in place 0; expected a list with "
          r"one array per weighted layer \(2, for layers 2..3\)"),
    Entry("check_backprop of a class without sizes",
          lambda f: ng.check_backprop(ng.check.load_user_object(f"{f.py}:Net")),
          ng.ConfigError, r"check_backprop: Net is a class; pass sizes= to build it as Net\(sizes\)"),
    Entry("check_backprop with a cost it does not know",
          lambda f: ng.check_backprop(ng.check.load_user_object(f"{f.py}:Net"), sizes=[3, 4, 2], cost="hinge"),
          ng.ConfigError, r"check_backprop: cost must be 'quadratic' or 'cross_entropy', got 'hinge'"),
    Entry("check_backprop of an object that is neither form",
          lambda f: ng.check_backprop(42),
          ng.ConfigError, r"check_backprop: expected a network object with backprop\(x, y\), weights and biases, "
          r"or a function grads\(params, X, Y\); got int"),
    Entry("check_backprop of a gradient function without sizes",
          lambda f: ng.check_backprop(lambda p, X, Y: p),
          ng.ConfigError, r"check_backprop: a gradient function needs sizes= \(layer sizes, input first\)"),
    Entry("load_user_object of a file that does not define the name",
          lambda f: ng.check.load_user_object(f"{f.py}:Network"),
          ng.ConfigError, r"check_backprop: '.*mine.py' defines no 'Network'; it defines Net, OneList, RowBias, TooFew, WrongShape"),
    Entry("load_user_object of a path that is not a .py file",
          lambda f: ng.check.load_user_object(f"{f.good}:Net"),
          ng.ConfigError, r"check_backprop: '.*net.safetensors' is not a Python file \(.py\); expected path/to/file.py:Name"),
    Entry("load_user_object without the :Name",
          lambda f: ng.check.load_user_object(str(f.py)),
          ng.ConfigError, r"check_backprop: expected path/to/file.py:Name \(a Python file and the class or function in it\)"),
    Entry("load_user_object of a .py file that does not exist",
          lambda f: ng.check.load_user_object(f"{f.dir}/absent.py:Net"),
          FileNotFoundError, r"check_backprop: the file '.*absent.py' does not exist"),
    # --- notebook display
    Entry("display_svg of something that is not a tensor",
          lambda f: ng.viz.notebook.display_svg(np.ones(3)),
          ng.DTypeError, r"display_svg: expected a Tensor, got ndarray"),
    Entry("display_svg with a height budget of zero",
          lambda f: ng.viz.notebook.display_svg(ng.Tensor([1.0], requires_grad=True) * 2.0, max_height=0),
          ng.ConfigError, r"display_svg: max_height must be a positive number of points, got 0"),
    Entry("display_svg with a width budget that is not a number",
          lambda f: ng.viz.notebook.display_svg(ng.Tensor([1.0], requires_grad=True) * 2.0, max_width="wide"),
          ng.ConfigError, r"display_svg: max_width must be a positive number of points, got 'wide'"),
    # --- PyTorch names: factories, dtypes, stack, max/min, schedules, clipping, mini-batches
    Entry("a dtype name with a typo", lambda f: ng.zeros(2, 3, dtype="flaot32"),
          ng.DTypeError, r"^zeros: dtype 'flaot32' is not a dtype a tensor can hold; expected a floating, "
          r"integer or boolean NumPy dtype such as float64, float32 or int64"),
    Entry("astype to a complex dtype", lambda f: ng.tensor([1.0]).astype("complex128"),
          ng.DTypeError, r"^astype: dtype 'complex128' is not a dtype a tensor can hold"),
    Entry("a negative size", lambda f: ng.ones(2, -3),
          ng.ShapeError, r"^ones: sizes must be non-negative integers, got \(2, -3\)"),
    Entry("randn with both seed and generator", lambda f: ng.randn(2, seed=0, generator=np.random.default_rng(0)),
          ng.ConfigError, r"^randn: pass seed= or generator=, not both"),
    Entry("stack of tensors of different shapes", lambda f: ng.stack([ng.zeros(2, 3), ng.zeros(3, 2)]),
          ng.ShapeError, r"^stack: all tensors must have the same shape, got \(2, 3\), \(3, 2\)"),
    Entry("stack of nothing", lambda f: ng.stack([]),
          ng.ShapeError, r"^stack: expected a non-empty list of tensors, got a list of length 0"),
    Entry("max over an empty axis", lambda f: ng.zeros(0, 3).max(axis=0),
          ng.ShapeError, r"^max: cannot take the maximum over axis 0, which is empty \(shape \(0, 3\)\)"),
    Entry("PyTorch's max(dim=) that returns values and indices", lambda f: ng.ones(2, 3).max(dim=1),
          ng.ConfigError, r"^max: got dim=1; here max\(axis=1\) returns the values only, as NumPy"),
    Entry("argmax over an axis the tensor lacks", lambda f: ng.zeros(2, 3).argmax(axis=2),
          ng.ShapeError, r"^argmax: invalid axis 2 for a tensor of shape \(2, 3\)"),
    Entry("StepLR with step_size 0", lambda f: ng.nn.StepLR(ng.nn.SGD(_net(), lr=0.1), step_size=0),
          ng.ConfigError, r"^StepLR: step_size must be an integer > 0, got 0"),
    Entry("CosineAnnealingLR with a negative eta_min",
          lambda f: ng.nn.CosineAnnealingLR(ng.nn.SGD(_net(), lr=0.1), T_max=10, eta_min=-0.1),
          ng.ConfigError, r"^CosineAnnealingLR: eta_min must be a number ≥ 0, got -0.1"),
    Entry("ReduceLROnPlateau with factor ≥ 1", lambda f: ng.nn.ReduceLROnPlateau(ng.nn.SGD(_net(), lr=0.1), factor=2),
          ng.ConfigError, r"^ReduceLROnPlateau: factor must be < 1 \(it divides the learning rate\), got 2"),
    Entry("a schedule of a module instead of an optimizer", lambda f: ng.nn.StepLR(_net(), step_size=2),
          ng.ConfigError, r"^StepLR: expected a nablagraph optimizer \(SGD, Adam …\), got Network"),
    Entry("fit with a schedule of another optimizer",
          _fit(scheduler=ng.nn.StepLR(ng.nn.SGD(_net(), lr=0.1), step_size=2)),
          ng.ConfigError, r"^fit: the scheduler sets the learning rate of another optimizer than the one fit trains with"),
    Entry("clip_grad_norm_ with max_norm 0", lambda f: ng.nn.utils.clip_grad_norm_(_net().parameters(), 0),
          ng.ConfigError, r"^clip_grad_norm_: max_norm must be positive, got 0"),
    Entry("clip_grad_value_ with a negative value", lambda f: ng.nn.utils.clip_grad_value_(_net(), -1.0),
          ng.ConfigError, r"^clip_grad_value_: clip_value must be positive, got -1.0"),
    Entry("a DataLoader whose X and Y differ in length", lambda f: ng.data.DataLoader(XOR_X, XOR_Y[:3]),
          ng.ShapeError, r"^DataLoader: X has 4 rows but Y has 3; they must hold one row per example"),
    Entry("Linear without a bias", lambda f: ng.nn.Linear(3, 2, bias=False),
          ng.ConfigError, r"^Linear: bias=False is not supported; every layer has a bias b\^l"),
    # --- the interactive graph page (viz.page, render(C, "g.html"))
    Entry("render to an extension that names no format (.htm)",
          lambda f: ng.viz.render(_net().cost(XOR_X, XOR_Y[:, None]), f.dir / "g.htm"),
          ng.ConfigError, r"render: cannot tell the format of '.*g.htm' from its extension '.htm'; use .dot, .gv, .svg, .png or .pdf, or .html for the interactive page"),
    Entry("render an .html page of a graph the backward of a temporary freed",
          lambda f: ng.viz.render(_freed_by_a_temporary(), f.dir / "g.html"),
          ng.GraphError, r"page: cannot show the graph: this tensor \(op 'sigmoid', shape \(4, 1\)\) was freed by an earlier backward\(\) on a tensor nothing held.*call backward\(retain_graph=True\)"),
    Entry("render an .html page from a diagram already drawn",
          lambda f: ng.viz.render(ng.viz.draw_network(_net(), XOR_X, XOR_Y[:, None]), f.dir / "g.html"),
          ng.DTypeError, r"render: an .html page is made from a Tensor \(it shows values and gradients\), got Diagram"),
    Entry("render an .html page with picture options",
          lambda f: ng.viz.render(_net().cost(XOR_X, XOR_Y[:, None]), f.dir / "g.html", collapse="layers"),
          ng.ConfigError, r"render: options collapse do not apply to an .html page .*only title= does"),
    Entry("Diagram.write to an .html file",
          lambda f: ng.viz.draw_network(_net(), XOR_X, XOR_Y[:, None]).write(f.dir / "g.html"),
          ng.ConfigError, r"Diagram.write: an .html page is made from the tensor itself .*viz.page\(C\).write\(path\)"),
    Entry("viz.page of an array, not a tensor", lambda f: ng.viz.page(np.ones(3)),  # type: ignore[arg-type]
          ng.DTypeError, r"page: expected a Tensor \(the cost C, usually\), got ndarray"),
    Entry("viz.network_page of a model that is not a Network",
          lambda f: ng.viz.network_page(object(), XOR_X, XOR_Y[:, None]),
          ng.ConfigError, r"network_page: expected a nablagraph.nn.Network \(with forward_trace and cost_from_trace\), got object without forward_trace\(\)"),
    # --- PyTorch and ONNX (nablagraph.interop; torch and onnx come with .[dev])
    Entry("from_torch of a Sequential with a Dropout layer",
          _interop("dropout"),
          ng.ConfigError, r"from_torch: layer 1 \(Dropout\(p=0.5, inplace=False\)\) is not supported; "
          r"supported: Linear \(with a bias\), Sigmoid, Tanh, ReLU"),
    Entry("from_torch of a Linear without a bias",
          _interop("no bias"),
          ng.ConfigError, r"from_torch: layer 0 is Linear\(bias=False\); a Dense layer always has a bias b\^l"),
    Entry("from_torch of two activations in a row",
          _interop("two activations"),
          ng.ConfigError, r"from_torch: the activation 2 \(Tanh\(\)\) follows another activation; a Dense "
          r"layer is a Linear followed by at most one activation"),
    Entry("to_torch of a Dense layer with a custom activation",
          lambda f: interop.to_torch(Sequential(Dense(2, 3, activation=lambda z: z * z, rng=0))),
          ng.ConfigError, r"to_torch: Dense layer 2 uses the activation '<lambda>', which has no torch.nn "
          r"module here; supported: identity, sigmoid, tanh, relu, leaky_relu, softplus, softmax"),
    Entry("load_state_dict of PyTorch names whose layer order is a word, not a number",
          lambda f: _net().load_state_dict({"encoder.weight": np.ones((3, 2)), "encoder.bias": np.ones(3),
                                            "decoder.weight": np.ones((1, 3)), "decoder.bias": np.ones(1)}),
          ng.ConfigError, r"load_state_dict: the PyTorch names 'decoder' and 'encoder' do not say which layer "
          r"comes first \(their paths differ by 'decoder' vs 'encoder', not by a layer number\); map them "
          r"yourself, e.g. with nablagraph.interop.state_dict_from_torch\(module\)"),
    Entry("load_state_dict of PyTorch names with a layer more than the model",
          lambda f: _net().load_state_dict({f"{i}.{k}": np.ones(1) for i in (0, 2, 4) for k in ("weight", "bias")}),
          ng.ConfigError, r"load_state_dict: the state holds 3 PyTorch layers \(0, 2, 4\) but the model has 2 "
          r"weighted layers"),
    Entry("load_state_dict of PyTorch names whose shapes are another network's",
          lambda f: _net().load_state_dict({"0.weight": np.ones((4, 2)), "0.bias": np.ones(4),
                                            "2.weight": np.ones((1, 4)), "2.bias": np.ones(1)}),
          ng.ShapeError, r"load_state_dict: W2 has shape \(4, 2\) in the state but \(3, 2\) in the model "
          r"\(PyTorch names mapped: 0.weight→W2, 0.bias→b2, 2.weight→W3, 2.bias→b3\)"),
    Entry("load_into of a float32 file in PyTorch's names into a float64 network",
          lambda f: ng.io.load_into(_net(), _torch_file(f)),
          ng.DTypeError, r"load_into: W2 is float32 in '.*torch.safetensors' but float64 in the model; build the "
          r"model with dtype=np.float32 \(PyTorch names mapped: 0.weight→W2"),
    Entry("to_onnx of an index it cannot export (a boolean mask)",
          _interop("mask"),
          ng.ConfigError, r"to_onnx: op 'getitem' with index array\(\[ True, False,  True\]\) is not supported; "
          r"only integers and slices \(x\[1\], x\[:, 2:5\], x\[::2\]\) are exported"),
    Entry("to_onnx of a model's gradients without targets",
          lambda f: interop.to_onnx(_net(), X=XOR_X, grads=True),
          ng.ConfigError, r"to_onnx: grads=True needs targets Y \(the gradient of the cost C\)"),
    Entry("to_onnx of a graph that backward() freed",
          lambda f: interop.to_onnx(_freed_cost()),
          ng.GraphError, r"to_onnx: the graph was freed by backward\(\) at op 'quadratic_cost' \(shape \(\)\); "
          r"record it again, or call backward\(retain_graph=True\)"),
    # ------------------------------------------------------------------ CLI
    Entry("CLI: learning rate 0", ["train", "--lr", "0"], 2, r"--lr must be positive, got 0"),
    Entry("CLI: batch size 0", ["train", "--batch-size", "0"], 2, r"--batch-size must be positive, got 0"),
    Entry("CLI: epochs not a number", ["train", "--epochs", "ten"], 2, r"--epochs must be an integer, got 'ten'"),
    Entry("CLI: a single layer size", ["train", "--sizes", "64"], 2,
          r"--sizes needs at least two positive layer sizes \(input first\), got '64'"),
    Entry("CLI: input layer that does not fit the data", ["train", "--data", "xor", "--sizes", "3,4,1"], 2,
          r"the network's input layer has 3 neurons \(sizes 3,4,1\) but --data xor has 2 features"),
    Entry("CLI: too few output neurons for the classes", ["train", "--sizes", "64,30,3"], 2,
          r"the output layer has 3 neurons but the data has 10 classes"),
    Entry("CLI: unknown data set", ["train", "--data", "cifar"], 2,
          r"--data must be digits, xor or mnist:PATH, got 'cifar'"),
    Entry("CLI: unknown activation", ["train", "--data", "xor", "--sizes", "2,3,1", "--activation", "swish"], 2,
          r"error: activation: unknown activation 'swish'; expected one of sigmoid"),
    Entry("CLI: model file that does not exist", ["check", "{missing}", "--data", "xor"], 2,
          r"model file .*absent.safetensors does not exist"),
    Entry("CLI: truncated model file", ["check", "{truncated}", "--data", "xor"], 2,
          r"check: error: .*truncated.safetensors': the first 8 bytes give a header length"),
    Entry("CLI: text file given as a model", ["check", "{text}", "--data", "xor"], 2,
          r"check: error: .*notes.safetensors': the first 8 bytes give a header length"),
    # --- CLI outputs, resources and plain installs (every output is checked before any work,
    # so the relative output names below are never written)
    Entry("CLI: --save with an extension other than .safetensors",
          ["train", "--data", "xor", "--sizes", "2,3,1", "--save", "model.png"], 2,
          r"train: error: --save model.png: models are written as .safetensors, chosen by the file's extension; got '.png'"),
    Entry("CLI: --save with no extension", ["train", "--data", "xor", "--sizes", "2,3,1", "--save", "model"], 2,
          r"--save model: models are written as .safetensors, chosen by the file's extension; got no extension"),
    Entry("CLI: --history with an unknown extension",
          ["train", "--data", "xor", "--sizes", "2,3,1", "--history", "h.txt"], 2,
          r"--history h.txt: histories are written as .json or .csv, chosen by the file's extension; got '.txt'"),
    Entry("CLI: --plot with an unknown image format",
          ["train", "--data", "xor", "--sizes", "2,3,1", "--plot", "curves.jpg2"], 2,
          r"--plot curves.jpg2: plots are written as .png, .svg or .pdf, chosen by the file's extension; got '.jpg2'"),
    Entry("CLI: an empty output name", ["train", "--data", "xor", "--sizes", "2,3,1", "--history", ""], 2,
          r"--history needs a file name, got an empty string"),
    Entry("CLI: graph -o with an unknown image format", ["graph", "2,3,1", "--data", "xor", "-o", "g.jpg"], 2,
          r"-o g.jpg: graphs are written as .svg, .png, .pdf, .dot, .gv or .html, chosen by the file's extension; got '.jpg'"),
    Entry("CLI: an output that is one of the inputs",
          ["train", "--data", "mnist:h.json,labels", "--sizes", "2,3,1", "--history", "h.json"], 2,
          r"--history h.json is the MNIST images file being read \(h.json\); writing it would destroy the input"),
    Entry("CLI: an output below a file", ["train", "--data", "xor", "--sizes", "2,3,1", "--save", "{good}/m.safetensors"], 2,
          r"--save .*net.safetensors/m.safetensors: cannot create the folder .*net.safetensors: .*net.safetensors is a file"),
    Entry("CLI: an output folder that cannot be written",
          ["train", "--data", "xor", "--sizes", "2,3,1", "--save", "/proc/nablagraph/m.safetensors"], 2,
          r"--save /proc/nablagraph/m.safetensors: cannot create a file in the folder /proc \("),
    Entry("CLI: demo --out that is a file", ["demo", "--out", "{good}"], 2,
          r"demo: error: --out .*net.safetensors: is a file, not a folder"),
    Entry("CLI: train sizes that cannot fit in memory", ["train", "--sizes", "2,1000000000,1"], 2,
          r"train: error: --sizes 2,1000000000,1: 4,000,000,001 parameters and their gradients and a batch of 10 need at least 224.0 GB in float64, but .* of memory is available; use smaller layers"),
    Entry("CLI: check sizes that cannot fit in memory", ["check", "1000000,1000000"], 2,
          r"check: error: model 1000000,1000000: 1,000,001,000,000 parameters and their gradients and a batch of 16 need at least 16.0 TB in float64, but .* of memory is available"),
    Entry("CLI: bench --json with another extension", ["bench", "--workloads", "W1", "--json", "r.txt"], 2,
          r"--json r.txt: results are written as .json, chosen by the file's extension; got '.txt'"),
    Entry("CLI: bench --hidden that is not widths", ["bench", "--hidden", "4,a"], 2,
          r"bench: error: --hidden must be comma-separated positive widths such as 4,16,64, got '4,a'"),
    # --- hostile weight files on the command line
    Entry("CLI: check a FIFO given as a model", ["check", "{fifo}", "--data", "xor"], 2,
          r"check: error: load: .*pipe.safetensors' is a FIFO \(named pipe\), not a regular file"),
    Entry("CLI: graph a model file nested 1,000 deep", ["graph", "{deep}", "--data", "xor", "-o", "graph.svg"], 2,
          r"graph: error: .*deep.safetensors': the header nests JSON 1001 levels deep"),
    Entry("CLI: check a 1 KB file declaring sizes [10000, 20000, 1]", ["check", "{bigsizes}", "--data", "xor"], 2,
          r"check: error: .*__metadata__ sizes \[10000, 20000, 1\] need W2 of shape \(20000, 10000\)"),
    # --- CLI: symbolic link loops (refused before training, never replaced), seeds, infinite
    # numbers, outputs that would be ignored
    Entry("CLI: a negative seed", ["train", "--data", "xor", "--sizes", "2,3,1", "--seed", "-1"], 2,
          r"train: error: argument --seed: --seed must be a non-negative integer, got -1 \(see nablagraph train --help\)"),
    Entry("CLI: an infinite learning rate", ["train", "--data", "xor", "--sizes", "2,3,1", "--lr", "inf"], 2,
          r"train: error: argument --lr: --lr must be a finite number, got inf"),
    Entry("CLI: bench --json without --workloads (it would write nothing)", ["bench", "--json", "r.json"], 2,
          r"bench: error: --json r.json: the results it writes are those of --workloads; add --workloads W1,W2,..."),
    Entry("CLI: a batch size that cannot fit in memory",
          ["train", "--data", "xor", "--sizes", "2,3,1", "--batch-size", "99999999999999999999"], 2,
          r"train: error: --sizes 2,3,1: 13 parameters and their gradients and a batch of 99,999,999,999,999,999,999 need "
          r"at least 9.6 ZB in float64, but .* of memory is available; use a smaller --batch-size$"),
    Entry("CLI: MNIST files holding a single example", ["train", "--data", "mnist:{mnist1}", "--sizes", "16,10"], 2,
          r"train: error: --data mnist:.*mnist1: the MNIST files hold 1 example; at least 2 are needed \(a sixth, at least "
          r"one, is held out as the test set\)"),
    Entry("CLI: demo --out empty", ["demo", "--out", ""], 2,
          r"demo: error: --out needs a folder name, got an empty string"),
    Entry("CLI: check a safetensors file of arrays, not of a Network", ["check", "{arrays}", "--data", "xor"], 2,
          r"check: error: load: cannot rebuild a model from .*arrays.safetensors': it has no nablagraph Network "
          r"metadata; the command reads only Networks with built-in activations \(files written by nablagraph "
          r"train --save or nablagraph.save\)$"),
    Entry("CLI: --save onto a symbolic link that points to itself",
          ["train", "--data", "xor", "--sizes", "2,3,1", "--save", "{loop}"], 2,
          r"--save .*loop.safetensors: the symbolic link loops \(it leads back to itself\); remove it or choose another name"),
    Entry("CLI: check a model that is a symbolic link to itself", ["check", "{loop}", "--data", "xor"], 2,
          r"check: error: model file .*loop.safetensors is a symbolic link that loops or leads nowhere"),
    # --- CLI: check --backprop (the user's own backprop; the file is run to load it)
    Entry("CLI: check --backprop of a name the file does not define", ["check", "--backprop", "{py}:Network", "--sizes", "3,4,2"], 2,
          r"check: error: check_backprop: '.*mine.py' defines no 'Network'; it defines Net, OneList, RowBias, TooFew, WrongShape$"),
    Entry("CLI: check --backprop of a model file, not a .py file", ["check", "--backprop", "{good}:Net"], 2,
          r"check: error: check_backprop: '.*net.safetensors' is not a Python file \(.py\); expected path/to/file.py:Name$"),
    Entry("CLI: check --backprop of a .py file that does not exist", ["check", "--backprop", "{mnist1}/absent.py:Net"], 2,
          r"check: error: check_backprop: the file '.*absent.py' does not exist$"),
    Entry("CLI: check --backprop of a class without --sizes", ["check", "--backprop", "{py}:Net"], 2,
          r"check: error: --backprop .*mine.py:Net: Net is a class; give --sizes \(such as 3,4,2\) to build it as Net\(sizes\)$"),
    Entry("CLI: check --backprop with a cost it does not know", ["check", "--backprop", "{py}:Net", "--sizes", "3,4,2", "--cost", "mse"], 2,
          r"check: error: --cost with --backprop must be quadratic or cross_entropy \(sigmoid outputs\), got 'mse'$"),
    Entry("CLI: check --backprop and a model together", ["check", "2,3,1", "--backprop", "{py}:Net"], 2,
          r"check: error: give either a model \(2,3,1\) or --backprop, not both$"),
    Entry("CLI: check with neither a model nor --backprop", ["check"], 2,
          r"check: error: give a model \(a .safetensors file or sizes such as 64,30,10\) or --backprop FILE.py:NAME$"),
    # --- CLI: the interactive graph page
    Entry("CLI: graph -o g.html with --collapse", ["graph", "2,3,1", "--data", "xor", "-o", "g.html", "--collapse", "layers"], 2,
          r"graph: error: -o g.html: --collapse applies to pictures; the .html page collapses layers itself"),
    Entry("CLI: graph -o g.htm (an extension that names no format)", ["graph", "2,3,1", "--data", "xor", "-o", "g.htm"], 2,
          r"-o g.htm: graphs are written as .svg, .png, .pdf, .dot, .gv or .html, chosen by the file's extension; got '.htm'"),
    # --- CLI: bench under several settings
    Entry("CLI: bench --settings naming no known setting", ["bench", "--workloads", "W1", "--settings", "default-3t"], 2,
          r"bench: error: bench settings: unknown 'default-3t'; expected 'all' or names from default-1t, default-1t-sklearn, "
          r"default-2t, .*haswell-2t-sklearn$"),
    Entry("CLI: bench --runs without --workloads", ["bench", "--runs", "3"], 2,
          r"bench: error: --runs 3: it repeats the --workloads table; add --workloads W1,W2,...$"),
    Entry("CLI: bench --runs 0", ["bench", "--workloads", "W1", "--runs", "0"], 2,
          r"bench: error: argument --runs: --runs must be positive, got 0 \(see nablagraph bench --help\)$"),
    # --- CLI: bench --import (the start-up time)
    Entry("CLI: bench --import with zero rounds", ["bench", "--import", "0"], 2,
          r"bench: error: argument --import: --import must be positive, got 0 \(see nablagraph bench --help\)$"),
    Entry("CLI: bench --import with --workloads", ["bench", "--import", "3", "--workloads", "W1"], 2,
          r"bench: error: --import times the start-up alone; leave out --workloads and --plot$"),
]

#: mine.py for the check_backprop entries: a correct textbook network and broken variants.
_MINE_PY = '''import numpy as np


class Net:
    def __init__(self, sizes):
        self.sizes = sizes
        self.weights = [np.full((n, k), 0.1) for k, n in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.zeros((n, 1)) for n in sizes[1:]]

    def backprop(self, x, y):
        acts, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(w @ acts[-1] + b)
            acts.append(1 / (1 + np.exp(-zs[-1])))
        delta = (acts[-1] - y) * acts[-1] * (1 - acts[-1])
        nabla_b, nabla_w = [delta], [delta @ acts[-2].T]
        for l in range(2, len(self.sizes)):
            delta = (self.weights[-l + 1].T @ delta) * acts[-l] * (1 - acts[-l])
            nabla_b.insert(0, delta)
            nabla_w.insert(0, delta @ acts[-l - 1].T)
        return nabla_b, nabla_w


class WrongShape(Net):
    def __init__(self, sizes):
        super().__init__(sizes)
        self.weights[1] = self.weights[1].T


class RowBias(Net):
    def __init__(self, sizes):
        super().__init__(sizes)
        self.biases = [b.T for b in self.biases]


class OneList(Net):
    def backprop(self, x, y):
        return super().backprop(x, y)[1]


class TooFew(Net):
    def backprop(self, x, y):
        nabla_b, nabla_w = super().backprop(x, y)
        return nabla_b[1:], nabla_w[1:]
'''


# ------------------------------------------------------------------ running
def run_cli(argv: list[str]) -> tuple[int, str]:
    """``nablagraph argv`` in process: ``(exit code, stderr)``."""
    err = _io.StringIO()
    out = _io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse's own errors
            code = exc.code if isinstance(exc.code, int) else 2
    return int(code), err.getvalue()


def outcome(entry: Entry, files: Files) -> tuple[str, str]:
    """``(what happened, message)`` for an entry: the exception class or exit code."""
    if isinstance(entry.call, list):
        argv = [a.format(**{k: str(v) for k, v in vars(files).items()}) for a in entry.call]
        code, err = run_cli(argv)
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        return f"exit {code}", lines[-1] if lines else ""
    try:
        entry.call(files)
    except BaseException as exc:  # the catalogue reports whatever happens
        return type(exc).__name__, str(exc)
    return "no error", ""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return Files.make(tmp_path_factory.mktemp("bad-inputs"))


def _graphviz_pure() -> str | None:
    return shutil.which("graphviz-pure") or ng.viz.renderer._beside_python("graphviz-pure")


@pytest.fixture(scope="module", autouse=True)
def _one_renderer() -> Iterator[None]:
    """Picture sizes in messages depend on the Graphviz program: the page shows graphviz-pure's
    (always installed), with or without the system dot on PATH."""
    with pytest.MonkeyPatch.context() as mp:
        pure = _graphviz_pure()
        if pure is not None:
            mp.setenv("NABLAGRAPH_DOT", pure)
        yield


def test_the_catalogue_has_at_least_30_entries_with_unique_descriptions() -> None:
    descriptions = [e.description for e in CATALOGUE]
    assert len(descriptions) >= 30
    assert len(set(descriptions)) == len(descriptions)
    assert sum(isinstance(e.call, list) for e in CATALOGUE) >= 8  # the CLI is covered too


@pytest.mark.parametrize("entry", CATALOGUE, ids=[e.description for e in CATALOGUE])
def test_bad_input(entry: Entry, files: Files) -> None:
    if isinstance(entry.call, list):
        argv = [a.format(**{k: str(v) for k, v in vars(files).items()}) for a in entry.call]
        code, err = run_cli(argv)
        assert code == entry.expected, err
        assert "Traceback" not in err
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert lines, "no message on stderr"
        assert re.search(entry.message, lines[-1]), lines[-1]
        return
    assert isinstance(entry.expected, type)
    call = entry.call
    with pytest.raises(entry.expected) as info:
        call(files)
    # The exact class, not a subclass or sibling that happens to share a built-in base.
    assert type(info.value) is entry.expected, f"{type(info.value).__name__}: {info.value}"
    assert re.search(entry.message, str(info.value)), str(info.value)


# ------------------------------------------------------------------ the page
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(files: Files) -> str:
    """``docs/bad-inputs.md``: the table with the messages the code really produces."""
    rows = []
    for i, e in enumerate(CATALOGUE, 1):
        what, message = outcome(e, files)
        message = message.replace(str(files.dir), "DIR")
        message = re.sub(r"[\d,.]+ [kMGT]B of memory is available", "N GB of memory is available", message)
        if isinstance(e.call, list):
            names = {k: f"DIR/{Path(v).name}" for k, v in vars(files).items()}
            shown = "`nablagraph " + " ".join(a.format(**names) for a in e.call) + "`"
            what = f"exit code {e.expected}"
        else:
            shown = "API"
        rows.append(f"| {i} | {_cell(e.description)} | {shown} | `{what}` | {_cell(message)} |")
    n_cli = sum(isinstance(e.call, list) for e in CATALOGUE)
    head = [
        "# Bad inputs and the errors they get",
        "",
        f"{len(CATALOGUE)} mistakes ({len(CATALOGUE) - n_cli} through the Python API, {n_cli} on the "
        "command line), each with the error class (or exit code) and the message nablagraph "
        "really gives. Every row is a test in `tests/test_bad_inputs.py`, which asserts the exact "
        "class and the message; this page is generated from the same table "
        "(`python tests/test_bad_inputs.py`), and a test fails when it is out of date.",
        "",
        "Every class is importable from `nablagraph` and subclasses the built-in exception that "
        "fits (`ShapeError` is a `ValueError`, `GraphError` a `RuntimeError`, `DTypeError` a "
        "`TypeError`), so `except ValueError` keeps working. The command line prints the message "
        "on one line (`nablagraph: error: …`) and exits with code 2, never a traceback. Paths "
        "in messages are shown as `DIR`.",
        "",
        "The files: `net.safetensors` is a saved `[2, 3, 1]` network, `other.safetensors` a "
        "`[2, 4, 1]` one, `truncated.safetensors` the first half of the former, "
        "`edited.safetensors` the former with one data byte changed, `notes.safetensors` a text "
        "file, `absent.safetensors` does not exist. The hostile files (`deep`, `many`, `dtypes`, `huge`, "
        "`dims`, `nullsizes`, `bigsizes`, `surrogate`, and the checkpoints `epoch`, `history`, "
        "`steps`) are valid files with one header or state entry changed and both checksums "
        "recomputed, as a deliberate edit would be; `pipe.safetensors` is a FIFO.",
        "",
        "| # | bad input | call | error | message |",
        "| --- | --- | --- | --- | --- |",
    ]
    return "\n".join(head + rows) + "\n"


@contextlib.contextmanager
def _temp_files() -> Iterator[Files]:
    with tempfile.TemporaryDirectory() as d:
        yield Files.make(Path(d))


def test_the_docs_page_lists_every_entry(files: Files) -> None:
    page = PAGE.read_text(encoding="utf-8")
    expected = render(files)
    for row in expected.splitlines():
        if row.startswith("| ") and not row.startswith("| #") and not row.startswith("| ---"):
            assert row in page, (
                f"docs/bad-inputs.md is out of date (regenerate with "
                f"`python tests/test_bad_inputs.py`); missing row:\n{row}"
            )
    for e in CATALOGUE:
        assert _cell(e.description) in page


if __name__ == "__main__":
    if _graphviz_pure() is not None:
        os.environ["NABLAGRAPH_DOT"] = str(_graphviz_pure())
    with _temp_files() as fs:
        PAGE.write_text(render(fs), encoding="utf-8")
    print(f"wrote {PAGE} ({len(CATALOGUE)} entries)", file=sys.stderr)
