"""Mutation fuzzing of the file readers: weight files, checkpoints and IDX files.

Valid seed files (a saved ``Network``, a training checkpoint, MNIST-like IDX files,
plain and gzip) are mutated — byte flips, truncations, extensions, hostile header
lengths, structure-aware edits of the header JSON (types, nesting, huge numbers,
dtypes, shapes, offsets, every metadata field, the checkpoint's epoch, history,
optimizer, RNG and run entries), with the checksums recomputed so the edits reach the
checks behind them — and every reader is run on every mutant.  The campaign asserts:

* only the documented error types come out (see ``DOCUMENTED``; docs/saving-loading.md);
* after a failed ``load_into`` or ``fit(resume_from=...)`` the model and the optimizer
  are bit for bit what they were;
* the peak memory stays bounded: the campaign runs in a subprocess under
  ``RLIMIT_AS`` (a runaway allocation becomes a ``MemoryError``, which is undocumented)
  and reports its peak resident memory (``VmHWM``, else ``ru_maxrss``).

The suite runs a quick profile (a few hundred files).  The long mode::

    NABLAGRAPH_FUZZ_FILES=20000 .venv/bin/python -m pytest -q tests/test_fuzz_files.py -s

or directly ``.venv/bin/python tests/test_fuzz_files.py 20000`` (prints the counts).
"""

from __future__ import annotations

import collections
import copy
import gzip
import hashlib
import json
import math
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

QUICK = 600
LONG = int(os.environ.get("NABLAGRAPH_FUZZ_FILES", "0"))
MAX_RSS_MB = 300
ADDRESS_LIMIT = 3 << 30  # RLIMIT_AS of the campaign process (NumPy and BLAS reserve some)


# ------------------------------------------------------------------ hostile values
#: Stands for JSON nested 1,000 deep (too deep for ``json.dumps``; spliced into the text).
DEEP = "\x00DEEP"
_DEEP_TEXT = "[" * 1000 + "0" + "]" * 1000


def _dumps(value: Any, **kw: Any) -> str:
    return json.dumps(value, **kw).replace('"\\u0000DEEP"', _DEEP_TEXT)


def _deep(n: int) -> Any:
    v: Any = 0
    for _ in range(n):
        v = [v]
    return v


HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1, 7, 2**31, 2**63, 2**64 + 8, 2**70, -(2**70), 1.5, 1e308, float("nan"),
    "", "abc", "\ud800", "F64", "I8", "BOOL", "float16", "object", "[10000, 20000, 1]", "null",
    "[2, true]", "[]", "[1e400]", "[" * 2000, [], {}, ["F64"], [2**70, 0], [1] * 65, [0, 2**64],
    [-1], [1.5], [[1]], [0, 0], [2, 3], {"a": 1}, _deep(60), [_deep(70)], DEEP, [DEEP], {"k": DEEP},
]
META_KEYS = ["sizes", "activation", "output_activation", "cost", "dtype", "parameters", "model",
             "library", "format", "checkpoint", "data_sha256", "header_sha256", "extra"]
STRING_VALUES = ["[10000, 20000, 1]", "[3, 4, 2]", "[3, 4, 2, 1]", "[3, 1000000, 2]", "null", "[]",
                 "[3]", "[3, 4, true]", "[3.0, 4, 2]", "[" * 1500 + "]" * 1500, "\ud800", "sigmoid",
                 "tanh", "swish", "softmax", "cross_entropy", "cubic", "float32", "float16", "int8",
                 "O", "V8", "nablagraph", "Tied", "", "x" * 5000, '{"a": 1}', "[-3, 4, 2]",
                 "[3, 0, 2]", "[2e9, 4, 2]", "[9999999999999999999999, 4, 2]"]
STATE_PATHS = [("epoch",), ("format",), ("rng",), ("rng", "state"), ("rng", "state", "state"),
               ("rng", "bit_generator"), ("optimizer",), ("optimizer", "steps"), ("optimizer", "t"),
               ("optimizer", "shapes"), ("optimizer", "optimizer"), ("optimizer", "flat"),
               ("optimizer", "n_params"), ("run",), ("run", "batch_size"), ("history",),
               ("history", "epoch"), ("history", "train_cost"), ("history", "val_accuracy"),
               ("history", "seconds"), ("history", "diagnostics"), ("history", "train_accuracy")]


# ------------------------------------------------------------------ seeds
def _net(seed: int = 0) -> Any:
    import nablagraph as ng

    return ng.nn.Network([3, 4, 2], activation="tanh", cost="cross_entropy", seed=seed)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((12, 3))
    return X, (X[:, 0] > 0).astype(np.int64)


def _idx(code: int, arr: np.ndarray) -> bytes:
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def make_seeds(d: Path) -> dict[str, bytes]:
    import nablagraph as ng

    model = d / "model.safetensors"
    ng.save(_net(), model)
    ckpt = d / "ckpt.safetensors"
    X, y = _data()
    ng.fit(_net(), X, y, epochs=2, batch_size=4, optimizer="adam", lr=0.05, verbose=False,
           checkpoint_every=2, checkpoint_path=ckpt, diagnostics=lambda m, X, Y: {"s": 1.0})
    rng = np.random.default_rng(0)
    images = _idx(0x08, rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8))
    labels = _idx(0x08, rng.integers(0, 10, size=5, dtype=np.uint8))
    return {"model": model.read_bytes(), "ckpt": ckpt.read_bytes(), "images": images,
            "labels": labels, "images.gz": gzip.compress(images), "labels.gz": gzip.compress(labels)}


# ------------------------------------------------------------------ mutations
def _split(raw: bytes) -> tuple[dict[str, Any], bytes]:
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(header: Any, data: bytes, checksums: bool) -> bytes:
    if checksums and isinstance(header, dict) and isinstance(header.get("__metadata__"), dict):
        meta = header["__metadata__"]
        if "data_sha256" in meta:
            meta["data_sha256"] = hashlib.sha256(data).hexdigest()
        if "header_sha256" in meta:
            body = dict(header)
            body["__metadata__"] = {k: v for k, v in meta.items() if k != "header_sha256"}
            try:
                text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                meta["header_sha256"] = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            except ValueError:  # NaN is fine; nothing else can fail
                pass
    head = _dumps(header, separators=(",", ":")).encode()
    head += b" " * (-(8 + len(head)) % 8)
    return len(head).to_bytes(8, "little") + head + data


def _set(obj: Any, path: tuple[str, ...], value: Any) -> None:
    for k in path[:-1]:
        if not isinstance(obj, dict) or k not in obj:
            return
        obj = obj[k]
    if isinstance(obj, dict):
        obj[path[-1]] = value


def _pick(rng: np.random.Generator, seq: list[Any]) -> Any:
    return copy.deepcopy(seq[int(rng.integers(len(seq)))])  # (values are edited in place later)


def _edit_header(rng: np.random.Generator, raw: bytes) -> bytes:
    header, data = _split(raw)
    meta = header.setdefault("__metadata__", {})
    names = [k for k in header if k != "__metadata__"]
    how = int(rng.integers(9))
    if how == 0:  # a tensor field
        e = header[_pick(rng, names)]
        field = _pick(rng, ["dtype", "shape", "data_offsets"])
        e[field] = _pick(rng, HOSTILE)
    elif how == 1:  # an entry's keys
        name = _pick(rng, names)
        r = int(rng.integers(4))
        if r == 0:
            header[name] = _pick(rng, HOSTILE)
        elif r == 1:
            header[name]["extra"] = 1
        elif r == 2:
            del header[name][_pick(rng, ["dtype", "shape", "data_offsets"])]
        else:
            header[_pick(rng, ["W9", "b2x", "", "fit/m.7", "fit/velocity.²", "\ud800"])] = header.pop(name)
    elif how == 2:  # a metadata string
        meta[_pick(rng, META_KEYS)] = _pick(rng, STRING_VALUES)
    elif how == 3:  # a metadata value of another type, or the metadata itself
        if rng.random() < 0.8:
            meta[_pick(rng, META_KEYS)] = _pick(rng, HOSTILE)
        else:
            header["__metadata__"] = _pick(rng, HOSTILE)
    elif how in (4, 5) and "checkpoint" in meta:  # the checkpoint state
        state = json.loads(meta["checkpoint"])
        path = _pick(rng, STATE_PATHS)
        r = rng.random()
        if r < 0.15 and path[0] == "history":
            h = state["history"]
            f = _pick(rng, list(h))
            if h[f]:
                h[f][int(rng.integers(len(h[f])))] = _pick(rng, HOSTILE)
        elif r < 0.25:
            _set(state, path, _pick(rng, ["abc", [1, 2], {"x": "y"}]))
        else:
            _set(state, path, _pick(rng, HOSTILE))
        meta["checkpoint"] = _dumps(state) if rng.random() < 0.9 else _pick(rng, STRING_VALUES)
    elif how == 6:  # a consistent but different layout: shapes and offsets rewritten
        e = header[_pick(rng, names)]
        shape = [int(rng.integers(0, 6)) for _ in range(int(rng.integers(0, 4)))]
        if rng.random() < 0.25:  # an empty tensor of huge extent, e.g. (2**70, 0)
            shape = _pick(rng, [[2**70, 0], [2**62, 2**62, 0], [0, 2**40, 2**40], [2**61, 0], [0] * 32])
        e["shape"] = shape
        size = math.prod(shape) * 8
        e["data_offsets"] = [e["data_offsets"][0], e["data_offsets"][0] + size]
    elif how == 7:  # huge sizes declared consistently with the data (a small file, a big model)
        meta["sizes"] = json.dumps(_pick(rng, [[10000, 20000, 1], [3, 10**6, 2], [3, 4, 2, 2], [3, 2]]))
    else:  # the whole header another JSON value
        header = _pick(rng, HOSTILE)
    return _join(header, data, checksums=rng.random() < 0.8)


def mutate_safetensors(rng: np.random.Generator, raw: bytes) -> tuple[str, bytes]:
    r = rng.random()
    if r < 0.12:
        b = bytearray(raw)
        for _ in range(int(rng.integers(1, 9))):
            b[int(rng.integers(len(b)))] ^= int(rng.integers(1, 256))
        return "flip", bytes(b)
    if r < 0.2:
        return "truncate", raw[: int(rng.integers(len(raw)))]
    if r < 0.26:
        return "extend", raw + rng.bytes(int(rng.integers(1, 64)))
    if r < 0.32:
        n = _pick(rng, [0, 1, 2, 7, len(raw) - 8, len(raw), 2**63, 10**10, 100 * 2**20 + 1,
                        int.from_bytes(raw[:8], "little") + 1])
        return "header length", n.to_bytes(8, "little") + raw[8:]
    return "header edit", _edit_header(rng, raw)


def mutate_idx(rng: np.random.Generator, raw: bytes, gz: bool) -> tuple[str, bytes]:
    plain = gzip.decompress(raw) if gz else raw
    r = rng.random()
    if r < 0.2:
        b = bytearray(raw if rng.random() < 0.5 else plain)
        for _ in range(int(rng.integers(1, 5))):
            b[int(rng.integers(len(b)))] ^= int(rng.integers(1, 256))
        return "flip", bytes(b)
    if r < 0.35:
        return "truncate", raw[: int(rng.integers(len(raw)))]
    if r < 0.45:
        return "extend", raw + rng.bytes(int(rng.integers(1, 64)))
    b = bytearray(plain)
    r = rng.random()
    what = "header edit"
    if r < 0.3:
        b[int(rng.integers(2, 4))] = int(rng.integers(256))
    elif r < 0.7:
        ndim = b[3]
        i = int(rng.integers(max(ndim, 1)))
        b[4 + 4 * i : 8 + 4 * i] = _pick(rng, [0, 1, 65536, 2**32 - 1, 6, 1000]).to_bytes(4, "big")
    elif r < 0.78:  # (65536,)*4, whose product overflows int64
        b = bytearray(b"\0\0\x08\x04" + (65536).to_bytes(4, "big") * 4) + b[16:]
    elif r < 0.85:  # an empty array of huge extent: no data needed
        b = bytearray(b"\0\0\x0e\x03" + (2**32 - 1).to_bytes(4, "big") * 2 + bytes(4))
    else:  # a small gzip bomb: 5 labels declared, a megabyte of zeros follows
        what = "gzip bomb"
        return what, gzip.compress(bytes(plain[:12]) + bytes(1 << 20))
    out = bytes(b)
    if gz and rng.random() < 0.7:
        out = gzip.compress(out)
    return what, out


# ------------------------------------------------------------------ the campaign
def _snapshot(model: Any, opt: Any = None) -> list[bytes]:
    snap = [p.data.tobytes() for p in model.parameters()]
    if opt is not None:
        arrays, scalars = opt.state_dict()
        snap += [arrays[k].tobytes() for k in sorted(arrays)] + [json.dumps(scalars, sort_keys=True).encode()]
    return snap


class Tally:
    """Outcomes of the readers: counts per type, undocumented errors, touched models."""

    def __init__(self, documented: dict[str, tuple[type[BaseException], ...]]) -> None:
        self.documented = documented
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.undocumented: list[str] = []
        self.touched: list[str] = []

    def run(self, tag: str, name: str, call: Callable[..., Any], *args: Any,
            model: Any = None, opt: Any = None, **kw: Any) -> None:
        before = _snapshot(model, opt) if model is not None else None
        try:
            call(*args, **kw)
            self.outcomes[f"{name}: ok"] += 1
            return
        except self.documented[name] as exc:
            self.outcomes[f"{name}: {type(exc).__name__}"] += 1
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        except Exception as exc:  # an undocumented type: the failure we look for
            self.outcomes[f"{name}: UNDOCUMENTED {type(exc).__name__}"] += 1
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            self.undocumented.append(f"{tag}/{name}: {error}")
        if before is not None and _snapshot(model, opt) != before:
            self.touched.append(f"{tag}/{name}: {error}")


def campaign(n_files: int, seed: int = 0) -> dict[str, Any]:
    """Mutate ``n_files`` files, run every reader on each; return the counts."""
    import nablagraph as ng
    from nablagraph import data, io
    from nablagraph.errors import ConfigError, DTypeError, FileFormatError, ShapeError

    tally = Tally({
        "read_file": (FileFormatError,),
        "load": (FileFormatError, ConfigError),
        "load_into": (FileFormatError, ConfigError, ShapeError, DTypeError),
        "fit(resume_from)": (FileFormatError, ConfigError, ShapeError, DTypeError),
        "read_idx": (FileFormatError,),
        "load_mnist_idx": (FileFormatError,),
    })
    rng = np.random.default_rng(seed)
    mutations: collections.Counter[str] = collections.Counter()
    X, y = _data()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        seeds = make_seeds(d)
        good_images, good_labels = d / "good-images", d / "good-labels"
        good_images.write_bytes(seeds["images"])
        good_labels.write_bytes(seeds["labels"])
        path = d / "mutant"
        # Weight files and checkpoints 3/10 each, the four IDX seeds 1/10 each.
        kinds = ["model"] * 3 + ["ckpt"] * 3 + ["images", "labels", "images.gz", "labels.gz"]
        for i in range(n_files):
            kind = kinds[i % len(kinds)]
            if kind in ("model", "ckpt"):
                what, content = mutate_safetensors(rng, seeds[kind])
            else:
                what, content = mutate_idx(rng, seeds[kind], kind.endswith(".gz"))
            tag = f"{kind}: {what}"
            mutations[tag] += 1
            path.write_bytes(content)
            if kind in ("model", "ckpt"):
                tally.run(tag, "read_file", io.read_file, path)
                tally.run(tag, "load", io.load, path)
                target = _net(seed=5)
                tally.run(tag, "load_into", io.load_into, target, path, model=target)
                if kind == "ckpt":
                    net = _net(seed=6)
                    opt = ng.Adam(net, lr=0.05, flat=True)
                    opt.zero_grad()
                    (net(X) * net(X)).sum().backward()
                    opt.step()  # so the optimizer has state to lose
                    tally.run(tag, "fit(resume_from)", ng.fit, net, X, y, epochs=3, batch_size=4,
                              optimizer=opt, verbose=False, resume_from=path, model=net, opt=opt)
            else:
                tally.run(tag, "read_idx", data.read_idx, path)
                pair = (path, good_labels) if kind.startswith("images") else (good_images, path)
                tally.run(tag, "load_mnist_idx", data.load_mnist_idx, *pair)
    return {
        "files": n_files,
        "seconds": round(time.perf_counter() - t0, 1),
        "outcomes": dict(sorted(tally.outcomes.items())),
        "mutations": dict(sorted(mutations.items())),
        "undocumented": tally.undocumented[:50],
        "n_undocumented": len(tally.undocumented),
        "touched": tally.touched[:50],
        "n_touched": len(tally.touched),
        "max_rss_mb": round(_peak_rss_kb() / 1024, 1),
    }


def _peak_rss_kb() -> int:
    """This process's peak resident memory, in KiB.

    ``VmHWM`` where Linux has it: it starts afresh at ``exec``, whereas ``ru_maxrss``
    keeps the peak of the process that forked this one (a test process that imported
    PyTorch would count as the campaign's memory).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run_campaign(n_files: int) -> dict[str, Any]:
    """The campaign in a subprocess under RLIMIT_AS; its JSON summary."""
    code = (
        "import json, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_LIMIT}, {ADDRESS_LIMIT})); "
        f"sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import test_fuzz_files as t; "
        f"print(json.dumps(t.campaign({n_files})))"
    )
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=max(600, n_files))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_mutated_files_raise_only_documented_errors_and_leave_models_alone() -> None:
    summary = _run_campaign(LONG or QUICK)
    if LONG:
        print(json.dumps(summary, indent=1))
    assert summary["n_undocumented"] == 0, summary["undocumented"]
    assert summary["n_touched"] == 0, summary["touched"]
    assert summary["max_rss_mb"] < MAX_RSS_MB, summary
    outcomes = summary["outcomes"]
    # The mutations reach deep: past the checksums, into the metadata and the state.
    for reached in ("load: ConfigError", "load_into: ShapeError", "fit(resume_from): FileFormatError",
                    "fit(resume_from): ConfigError", "read_idx: FileFormatError", "load: ok"):
        assert outcomes.get(reached, 0) > 0, (reached, outcomes)


if __name__ == "__main__":
    result = campaign(int(sys.argv[1]) if len(sys.argv) > 1 else QUICK)
    print(json.dumps(result, indent=1))
