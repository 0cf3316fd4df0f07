"""Weight files: our safetensors writer/reader, interoperability, atomic writes, refusals."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import io
from nablagraph.data import xor
from nablagraph.io import FileFormatError
from nablagraph.nn import Dense, Module, Network, fit

st_numpy = pytest.importorskip("safetensors.numpy")
safetensors = pytest.importorskip("safetensors")


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def _trained(dtype: Any = np.float64) -> Network:
    X, Y = xor(dtype)
    net = Network([2, 4, 1], activation="tanh", output_activation="sigmoid",
                  cost="binary_cross_entropy", seed=0, dtype=dtype)
    fit(net, X, Y, epochs=20, batch_size=2, lr=0.5, verbose=False)
    return net


def _snapshot(model: Module) -> dict[str, bytes]:
    return {n: _bits(t.data) for n, t in model.named_parameters()}


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saved_weights_round_trip_bit_exactly(tmp_path: Path, dtype: Any) -> None:
    net = _trained(dtype)
    path = tmp_path / "net.safetensors"
    io.save(net, path)
    loaded = io.load(path)
    assert loaded.sizes == net.sizes and repr(loaded) == repr(net) and loaded.dtype == np.dtype(dtype)
    assert _snapshot(loaded) == _snapshot(net)
    X, _ = xor(dtype)
    assert _bits(loaded(X).data) == _bits(net(X).data)
    # load_into an existing, differently initialised network of the same architecture.
    other = Network([2, 4, 1], activation="tanh", output_activation="sigmoid",
                    cost="binary_cross_entropy", seed=99, dtype=dtype)
    assert _snapshot(other) != _snapshot(net)
    io.load_into(other, path)
    assert _snapshot(other) == _snapshot(net)


def test_the_file_layout_and_metadata(tmp_path: Path) -> None:
    net = _trained()
    path = tmp_path / "net.safetensors"
    io.save(net, path, metadata={"dataset": "xor"})
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    assert (8 + n) % 8 == 0  # the data section is 8-byte aligned
    header = json.loads(raw[8 : 8 + n])
    assert header["W2"] == {"dtype": "F64", "shape": [4, 2], "data_offsets": [0, 64]}
    assert header["b2"]["data_offsets"] == [64, 96]
    meta = header["__metadata__"]
    assert json.loads(meta["sizes"]) == [2, 4, 1]
    assert (meta["activation"], meta["output_activation"], meta["cost"], meta["dtype"]) == (
        "tanh", "sigmoid", "binary_cross_entropy", "float64")
    assert json.loads(meta["parameters"]) == ["W2", "b2", "W3", "b3"]
    assert meta["library"] == "nablagraph" and meta["library_version"] == ng.__version__
    assert "W{l} = w^l, shape (n_l, n_{l-1})" in meta["notation"]
    assert len(meta["data_sha256"]) == 64 and len(meta["header_sha256"]) == 64
    assert meta["dataset"] == "xor"
    assert io.read_metadata(path) == meta
    # The data section is the parameters' raw little-endian bytes, in order.
    assert raw[8 + n :] == b"".join(_bits(t.data.astype("<f8")) for t in net.parameters())


def test_a_custom_module_round_trips_with_load_into(tmp_path: Path) -> None:
    class Tied(Module):
        def __init__(self, seed: int) -> None:
            rng = np.random.default_rng(seed)
            self.enc = Dense(3, 2, activation="tanh", rng=rng, index=2)
            self.scale = ng.Tensor(rng.standard_normal(1), requires_grad=True, name="scale")

        def forward(self, x: Any) -> ng.Tensor:
            h = self.enc(x)
            return ng.matmul(h, self.enc.W) * self.scale  # the encoder's W, shared and transposed

    a, b = Tied(0), Tied(1)
    path = tmp_path / "tied.safetensors"
    io.save(a, path)
    assert io.read_metadata(path)["model"] == "Tied"
    io.load_into(b, path)
    assert _snapshot(a) == _snapshot(b)
    with pytest.raises(ng.ConfigError, match=r"load: cannot rebuild a model from .*: it holds a Tied, not a Network; build the model yourself and call load_into"):
        io.load(path)


# ------------------------------------------------------------------ interoperability
def test_files_we_write_load_in_safetensors_bit_exactly(tmp_path: Path) -> None:
    net32 = _trained(np.float32)
    path = tmp_path / "ours.safetensors"
    io.save(net32, path)
    theirs = st_numpy.load_file(str(path))
    assert list(theirs) == ["W2", "b2", "W3", "b3"] or set(theirs) == {"W2", "b2", "W3", "b3"}
    for name, t in net32.named_parameters():
        assert theirs[name].dtype == np.float32 and _bits(theirs[name]) == _bits(t.data)
    with safetensors.safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    assert json.loads(meta["sizes"]) == [2, 4, 1]
    # Every dtype we write, including 0-d and empty tensors.
    arrays = {
        "f64": np.linspace(-1, 1, 6).reshape(2, 3), "f16": np.arange(5, dtype=np.float16),
        "i64": np.array([-(2**62), 7]), "i8": np.array([-128, 127], dtype=np.int8),
        "u16": np.array([65535], dtype=np.uint16), "bool": np.array([True, False, True]),
        "scalar": np.array(3.5), "empty": np.zeros((0, 4), dtype=np.float32),
        "strided": np.arange(12.0).reshape(3, 4).T,  # not C-contiguous
    }
    path2 = tmp_path / "dtypes.safetensors"
    io.save_file(arrays, path2, {"who": "us"})
    theirs = st_numpy.load_file(str(path2))
    for k, v in arrays.items():
        assert theirs[k].dtype == v.dtype and theirs[k].shape == v.shape, k
        assert _bits(theirs[k]) == _bits(v), k


def test_files_safetensors_writes_load_here_bit_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "W2": rng.standard_normal((4, 2)), "b2": rng.standard_normal(4),
        "W3": rng.standard_normal((1, 4)), "b3": rng.standard_normal(1),
        "half": rng.standard_normal(3).astype(np.float16), "ints": np.arange(6, dtype=np.int32).reshape(2, 3),
    }
    path = tmp_path / "theirs.safetensors"
    st_numpy.save_file(arrays, str(path), metadata={"origin": "safetensors"})
    tensors, meta = io.read_file(path)
    assert meta == {"origin": "safetensors"}
    for k, v in arrays.items():
        assert tensors[k].dtype == v.dtype and _bits(tensors[k]) == _bits(v), k
    # A plain safetensors file with the notation's names fills a Network.
    del arrays["half"], arrays["ints"]
    st_numpy.save_file(arrays, str(path))
    net = Network([2, 4, 1], seed=5)
    io.load_into(net, path)
    assert all(_bits(t.data) == _bits(arrays[n]) for n, t in net.named_parameters())
    with pytest.raises(ng.ConfigError, match=r"it has no nablagraph Network metadata; build the model yourself and call load_into"):
        io.load(path)


# ------------------------------------------------------------------ atomic writes
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = _trained()
    path = tmp_path / "net.safetensors"
    io.save(net, path)
    before = path.read_bytes()
    net.layers[0].W.data[...] = 0.0

    def crash(*args: Any) -> None:
        raise OSError("disk full (simulated)")

    for target in ("replace", "fsync"):
        with monkeypatch.context() as m:
            m.setattr(os, target, crash)
            with pytest.raises(OSError, match="disk full"):
                io.save(net, path)
        assert path.read_bytes() == before
        assert os.listdir(tmp_path) == ["net.safetensors"]


def test_save_syncs_then_renames_in_the_same_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        calls.append(f"replace {Path(src).parent == Path(dst).parent}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    io.save(_trained(), tmp_path / "net.safetensors")
    assert calls[:2] == ["fsync", "replace True"]
    with pytest.raises(FileNotFoundError, match=r"save: the directory .*nowhere' does not exist"):
        io.save(_trained(), tmp_path / "nowhere" / "net.safetensors")


# ------------------------------------------------------------------ refusals
@pytest.fixture
def saved(tmp_path: Path) -> tuple[Network, Path, bytes]:
    net = _trained()
    path = tmp_path / "net.safetensors"
    io.save(net, path)
    return net, path, path.read_bytes()


def _header_len(raw: bytes) -> int:
    return int(struct.unpack("<Q", raw[:8])[0])


def _edit_header(raw: bytes, old: bytes, new: bytes) -> bytes:
    n = _header_len(raw)
    head = raw[8 : 8 + n]
    assert old in head and len(old) == len(new)
    return raw[:8] + head.replace(old, new, 1) + raw[8 + n :]


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (lambda raw: raw[:-5], r"the header describes 136 bytes of tensor data but the file holds 131; the file is truncated"),
        (lambda raw: raw[:20], r"the first 8 bytes give a header length of \d+ bytes but 12 bytes follow; this is not a safetensors file, or it is truncated"),
        (lambda raw: raw[:5], r"5 bytes is too short for a safetensors file"),
        (lambda raw: b"", r"0 bytes is too short for a safetensors file"),
        (lambda raw: raw + b"\0\0", r"the file holds 2 bytes after the last tensor"),
        (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), r"data checksum mismatch \(stored [0-9a-f]{16}…, computed [0-9a-f]{16}…\): the tensor bytes were changed"),
        (lambda raw: _edit_header(raw, b'"activation":"tanh"', b'"activation":"relu"'), r"header checksum mismatch .*: the header was edited"),
        (lambda raw: _edit_header(raw, b'"shape":[4,2]', b'"shape":[2,4]'), r"header checksum mismatch"),
        (lambda raw: _edit_header(raw, b'"shape":[4,2]', b'"shape":[4,1]'), r"tensor 'W2': shape \(4, 1\) of F64 needs 32 bytes but data_offsets \[0, 64\] span 64"),
        (lambda raw: _edit_header(raw, b'"data_sha256"', b'"data_sha255"'), r"written by nablagraph but its checksums .* are missing"),
        (lambda raw: _edit_header(raw, b'"dtype":"F64"', b'"dtype":"X64"'), r"tensor 'W2' has dtype 'X64'; supported here: F64, F32"),
        (lambda raw: _edit_header(raw, b'"b2":', b'"W2":'), r"the header is not valid JSON \(duplicate key 'W2'\)"),
        (lambda raw: _edit_header(raw, b"{", b"["), r"the header does not start with '\{'"),
        (lambda raw: raw[:8] + b"\xff" + raw[9:], r"the header is not UTF-8"),
        (lambda raw: pickle.dumps({"W2": np.zeros(2)}), r"not a safetensors file"),
        (lambda raw: b"hello, world: a text file that is long enough\n", r"header length of \d+ bytes but \d+ bytes follow; this is not a safetensors file"),
    ],
)
def test_bad_files_are_refused_and_the_model_is_untouched(
    saved: tuple[Network, Path, bytes], corrupt: Any, match: str
) -> None:
    _, path, raw = saved
    path.write_bytes(corrupt(raw))
    target = Network([2, 4, 1], activation="tanh", output_activation="sigmoid",
                     cost="binary_cross_entropy", seed=7)
    before = _snapshot(target)
    with pytest.raises(FileFormatError, match=match):
        io.load_into(target, path)
    assert _snapshot(target) == before
    with pytest.raises(FileFormatError, match=match):
        io.load(path)


def test_overlapping_or_gapped_offsets_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "gap.safetensors"
    header = json.dumps({"a": {"dtype": "F64", "shape": [1], "data_offsets": [8, 16]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(FileFormatError, match=r"tensor 'a' starts at byte 8 of the data section and leaves a gap of 8 bytes"):
        io.load_file(path)
    header = json.dumps({"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]},
                         "b": {"dtype": "F64", "shape": [1], "data_offsets": [8, 16]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(FileFormatError, match=r"tensor 'b' starts at byte 8 .* overlaps the previous tensor"):
        io.load_file(path)


def test_loading_a_pickle_never_runs_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(FileFormatError):
        io.load(path)
    assert not marker.exists()


def test_a_different_architecture_is_refused_and_the_model_is_untouched(
    saved: tuple[Network, Path, bytes],
) -> None:
    _, path, _ = saved
    cases: list[tuple[Module, type[Exception], str]] = [
        (Network([2, 5, 1], seed=0), ng.ShapeError,
         r"load_into: '.*net.safetensors' holds a Network with sizes \[2, 4, 1\], the model has sizes \[2, 5, 1\]"),
        (Network([2, 4, 1], activation="relu", output_activation="sigmoid", cost="binary_cross_entropy", seed=0),
         ng.ConfigError, r"was saved from Network\(sizes=\[2, 4, 1\], activation=tanh, .*\) but the model has activation=relu; build the model with activation='tanh'"),
        (Network([2, 4, 1], activation="tanh", output_activation="sigmoid", cost="binary_cross_entropy", seed=0, dtype=np.float32),
         ng.DTypeError, r"load_into: W2 is float64 in .* but float32 in the model; build the model with dtype=np.float64"),
        (Network([2, 4, 4, 1], seed=0), ng.ShapeError, r"holds a Network with sizes \[2, 4, 1\], the model has sizes \[2, 4, 4, 1\]"),
        (Dense(2, 4, rng=0), ng.ConfigError, r"the parameters of .* do not match the model \(Dense\): missing from the file: W, b; not in the model: W2, b2, W3, b3"),
    ]
    for model, cls, match in cases:
        before = _snapshot(model)
        with pytest.raises(cls, match=match):
            io.load_into(model, path)
        assert _snapshot(model) == before


def test_shapes_that_disagree_with_the_model_are_named(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    rng = np.random.default_rng(0)
    st_numpy.save_file({"W2": rng.standard_normal((4, 3)), "b2": np.zeros(4),
                        "W3": np.zeros((1, 4)), "b3": np.zeros(1)}, str(path))
    net = Network([2, 4, 1], seed=0)
    before = _snapshot(net)
    with pytest.raises(ng.ShapeError, match=r"load_into: W2 has shape \(4, 3\) in '.*' but \(4, 2\) in the model"):
        io.load_into(net, path)
    assert _snapshot(net) == before


def test_bad_arguments_to_save(tmp_path: Path) -> None:
    with pytest.raises(ng.ConfigError, match=r"save: metadata key 'sizes' is reserved"):
        io.save(_trained(), tmp_path / "x", metadata={"sizes": "[1]"})
    with pytest.raises(ng.ConfigError, match=r"metadata must map strings to strings, got 'n': int"):
        io.save_file({"a": np.zeros(1)}, tmp_path / "x", metadata={"n": 3})  # type: ignore[dict-item]
    with pytest.raises(ng.DTypeError, match=r"save_file: tensor 'c' has dtype complex128"):
        io.save_file({"c": np.zeros(2, dtype=complex)}, tmp_path / "x")
    with pytest.raises(ng.ConfigError, match=r"save: expected a nablagraph Module, got dict"):
        io.save({"W2": np.zeros(2)}, tmp_path / "x")  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


def test_a_network_with_a_custom_activation_needs_load_into(tmp_path: Path) -> None:
    def swish(z: ng.Tensor) -> ng.Tensor:
        return z * ng.sigmoid(z)

    net = Network([3, 4, 2], activation=swish, seed=0)
    path = tmp_path / "swish.safetensors"
    io.save(net, path)
    with pytest.raises(ng.ConfigError, match=r"uses the custom activation 'swish' \(activation\); build the Network with that function and call load_into"):
        io.load(path)
    same = Network([3, 4, 2], activation=swish, seed=1)
    io.load_into(same, path)
    assert _snapshot(same) == _snapshot(net)


# ------------------------------------------------------------------ hostile files
def _signed(raw: bytes, edit: Any) -> bytes:
    """``raw`` with its header JSON changed by ``edit(header)`` and both checksums recomputed
    (so the edit reaches the checks behind them, as a deliberate attacker's would)."""
    n = _header_len(raw)
    header, data = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    edit(header)
    meta = header.get("__metadata__")
    if isinstance(meta, dict) and "header_sha256" in meta:
        meta["data_sha256"] = hashlib.sha256(data).hexdigest()
        with contextlib.suppress(UnicodeEncodeError):  # (a lone surrogate cannot be hashed)
            meta["header_sha256"] = hashlib.sha256(io._canonical(header)).hexdigest()
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text + data


def _meta(key: str, value: Any) -> Any:
    return lambda h: h["__metadata__"].__setitem__(key, value)


def _tensor(field: str, value: Any) -> Any:
    return lambda h: h["W2"].__setitem__(field, value)


def _deep_header(raw: bytes) -> bytes:
    text = b'{"a":' + b"[" * 1000 + b"]" * 1000 + b"}"
    return len(text).to_bytes(8, "little") + text


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (_deep_header, r"the header nests JSON 1001 levels deep; at most 64 are allowed"),
        (lambda raw: _signed(raw, _meta("sizes", "[" * 1000 + "]" * 1000)),
         r"__metadata__ sizes nests JSON 1000 levels deep"),
        (lambda raw: _signed(raw, _tensor("dtype", ["F64"])), r"tensor 'W2' has dtype \['F64'\]; supported here: F64"),
        (lambda raw: _signed(raw, _tensor("shape", [2**70, 0])),
         r"tensor 'W2': shape \(1180591620717411303424, 0\) of F64 needs 0 bytes but data_offsets \[0, 64\] span 64"),
        (lambda raw: _signed(raw, _tensor("shape", [1] * 65)), r"tensor 'W2' has 65 dimensions; at most 32 are supported"),
        (lambda raw: _signed(raw, lambda h: h["W2"].update(shape=[2**70, 0], data_offsets=[0, 0])),
         r"tensor 'W2' has shape \(1180591620717411303424, 0\), beyond what an array can hold"),
        (lambda raw: _signed(raw, _tensor("shape", [4, True])), r"tensor 'W2' has shape \[4, True\]; expected a list of non-negative integers"),
        (lambda raw: _signed(raw, _tensor("data_offsets", [0, 2**64])), r"shape \(4, 2\) of F64 needs 64 bytes but data_offsets \[0, 18446744073709551616\] span"),
        (lambda raw: _signed(raw, _meta("sizes", "null")), r"__metadata__ sizes 'null' is not a JSON list of at least two positive integers"),
        (lambda raw: _signed(raw, _meta("sizes", "[2, true, 1]")), r"__metadata__ sizes '\[2, true, 1\]' is not a JSON list"),
        (lambda raw: _signed(raw, _meta("sizes", 7)), r"__metadata__ must map strings to strings"),
        (lambda raw: _signed(raw, _meta("model", "\ud800")), r"the header holds the string '\\ud800' with a lone surrogate"),
        (lambda raw: _signed(raw, lambda h: h.__setitem__("\udfff", h.pop("b3"))), r"lone surrogate"),
        (lambda raw: _signed(raw, _meta("sizes", "[10000, 20000, 1]")),
         r"__metadata__ sizes \[10000, 20000, 1\] need W2 of shape \(20000, 10000\) but the file holds W2 of shape \(4, 2\)"),
        (lambda raw: _signed(raw, _meta("sizes", "[2, 4, 1, 1]")),
         r"__metadata__ sizes \[2, 4, 1, 1\] need the parameters W2, b2, W3, b3, W4, b4 but the file holds W2, b2, W3, b3"),
        (lambda raw: _signed(raw, _meta("dtype", "object")), r"__metadata__ dtype 'object' does not match the tensors \(float64\)"),
        (lambda raw: _signed(raw, lambda h: h.__setitem__("W2", [1, 2])), r"tensor 'W2': expected an entry with exactly dtype, shape and data_offsets, got \[1, 2\]"),
        (lambda raw: (10 * 10**9).to_bytes(8, "little") + raw[8:],
         r"the first 8 bytes give a header length of 10000000000 bytes but \d+ bytes follow"),
    ],
)
def test_hostile_files_raise_file_format_errors_and_leave_the_model_alone(
    saved: tuple[Network, Path, bytes], corrupt: Any, match: str
) -> None:
    _, path, raw = saved
    path.write_bytes(corrupt(raw))
    target = Network([2, 4, 1], activation="tanh", output_activation="sigmoid",
                     cost="binary_cross_entropy", seed=7)
    before = _snapshot(target)
    with pytest.raises(FileFormatError, match=match):
        io.load(path)
    if "sizes" not in match and "dtype '" not in match:  # (load_into trusts the model's own sizes)
        with pytest.raises(FileFormatError, match=match):
            io.load_into(target, path)
    assert _snapshot(target) == before


def test_a_small_file_declaring_a_huge_network_costs_no_memory(saved: tuple[Network, Path, bytes]) -> None:
    """The declared sizes are checked against the tensors present before a Network is built."""
    _, path, raw = saved
    path.write_bytes(_signed(raw, _meta("sizes", "[10000, 20000, 1]")))
    assert path.stat().st_size < 1200
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"the metadata does not describe the tensors"):
            io.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # the network it declares would take 1.6 GB


def test_sizes_are_checked_against_the_file_size_before_reading(tmp_path: Path) -> None:
    """A sparse 1 GB file declaring a 10 GB header, or a 1 KB file declaring a 12.8 GB tensor."""
    sparse = tmp_path / "sparse.safetensors"
    with open(sparse, "wb") as f:
        f.write((10 * 10**9).to_bytes(8, "little"))
        f.truncate(10**9)
    head = json.dumps({"W2": {"dtype": "F64", "shape": [40000, 40000], "data_offsets": [0, 12_800_000_000]}}).encode()
    small = tmp_path / "small.safetensors"
    small.write_bytes(len(head).to_bytes(8, "little") + head + bytes(1024 - 8 - len(head)))
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"header length of 10000000000 bytes but 999999992 bytes follow"):
            io.read_file(sparse)
        with pytest.raises(FileFormatError, match=r"the header describes 12800000000 bytes of tensor data but the file holds \d+; the file is truncated"):
            io.load(small)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs and /dev/zero")
def test_fifos_devices_and_directories_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    # In a subprocess: a reader that blocked on the FIFO (no writer) would hang the suite.
    script = (
        "import nablagraph as ng\n"
        f"for p in ({str(fifo)!r}, '/dev/zero'):\n"
        "    try:\n"
        "        ng.load(p)\n"
        "    except ng.FileFormatError as exc:\n"
        "        print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"load: '.*pipe.safetensors' is a FIFO \(named pipe\), not a regular file; give the path of a file", lines[0])
    assert lines[1] == "load: '/dev/zero' is a character device, not a regular file; give the path of a file"
    with pytest.raises(IsADirectoryError, match=r"load_into: is a directory, not a file"):
        io.load_into(Network([2, 4, 1], seed=0), tmp_path)
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: .*absent"):
        io.read_file(tmp_path / "absent")


def test_duplicate_header_keys_and_long_values_are_reported_briefly(saved: tuple[Network, Path, bytes]) -> None:
    _, path, raw = saved
    path.write_bytes(_signed(raw, _tensor("shape", list(range(1, 30)))))
    with pytest.raises(FileFormatError) as info:
        io.read_file(path)
    assert len(str(info.value)) < 400 and "…" in str(info.value)


def test_a_header_of_too_many_json_values_is_refused_before_parsing(tmp_path: Path) -> None:
    body = b'{"a":[' + b"0," * io.MAX_JSON_ITEMS + b"0]}"
    body += b" " * (-(8 + len(body)) % 8)
    path = tmp_path / "many.safetensors"
    path.write_bytes(len(body).to_bytes(8, "little") + body)
    with pytest.raises(FileFormatError, match=r"many.safetensors': the header holds 1000001 JSON values; at most 1000000 are allowed"):
        io.load(path)
