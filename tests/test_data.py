"""Datasets: XOR, digits, MNIST IDX files (written here, plain and gzip), one-hot helpers."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

import nablagraph as ng
from nablagraph.data import digits, from_one_hot, load_mnist_idx, one_hot, read_idx, xor
from nablagraph.io import FileFormatError


def test_xor_is_the_truth_table() -> None:
    X, Y = xor()
    assert X.shape == (4, 2) and Y.shape == (4, 1) and X.dtype == np.float64
    np.testing.assert_array_equal(Y[:, 0], np.logical_xor(X[:, 0], X[:, 1]))
    assert xor(np.float32)[0].dtype == np.float32


# ------------------------------------------------------------------ one-hot
def test_one_hot_and_back() -> None:
    y = np.array([3, 0, 2, 2])
    Y = one_hot(y, 5)
    assert Y.shape == (4, 5) and Y.dtype == np.float64
    np.testing.assert_array_equal(Y.sum(axis=1), 1)
    np.testing.assert_array_equal(Y[np.arange(4), y], 1)
    np.testing.assert_array_equal(from_one_hot(Y), y)
    assert one_hot(y).shape == (4, 4)  # n defaults to max + 1
    assert one_hot(np.array([1.0, 0.0]), 2, dtype=np.float32).dtype == np.float32
    # from_one_hot on network outputs gives the predicted classes.
    np.testing.assert_array_equal(from_one_hot([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]), [1, 0])


def test_one_hot_refuses_bad_labels() -> None:
    with pytest.raises(ng.LabelError, match=r"one_hot: labels must be in \[0, 2\] for n=3 classes, got 3 \(1 of 3 out of range\)"):
        one_hot([0, 3, 1], 3)
    with pytest.raises(ng.LabelError, match=r"one_hot: labels must be in \[0, 2\] for n=3 classes, got -1"):
        one_hot([-1, 0], 3)
    with pytest.raises(ng.LabelError, match=r"one_hot: labels must be integers, got dtype float64"):
        one_hot([0.5, 1.0], 3)
    with pytest.raises(ng.ShapeError, match=r"one_hot: labels must be 1-D \(one per example\), got shape \(2, 2\)"):
        one_hot([[0, 1], [1, 0]], 2)
    with pytest.raises(ng.ConfigError, match=r"one_hot: n \(the number of classes\) must be a positive integer, got 0"):
        one_hot([0], 0)
    with pytest.raises(ng.ShapeError, match=r"from_one_hot: expected rows of shape \(M, n\), got shape \(3,\)"):
        from_one_hot([1, 0, 0])


# ------------------------------------------------------------------ digits
def test_digits_split_is_seeded_scaled_and_stratified() -> None:
    X_train, y_train, X_test, y_test = digits(test_size=0.2, seed=0)
    assert X_train.shape == (1437, 64) and X_test.shape == (360, 64)
    assert y_train.dtype == np.int64 and set(np.unique(y_test)) == set(range(10))
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    # Stratified: every digit's share of the test set is its share of the data, ±1 example.
    counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - counts * 360 / 1797) <= 1)
    # Train and test are disjoint and together are the whole set (no row lost or repeated).
    rows = {r.tobytes() for r in np.concatenate([X_train, X_test])}
    assert len(np.concatenate([X_train, X_test])) == 1797 and len(rows) >= 1797 - 5
    # Seeded.
    again = digits(test_size=0.2, seed=0)
    np.testing.assert_array_equal(again.X_test, X_test)
    np.testing.assert_array_equal(again.Y_train, y_train)
    other = digits(test_size=0.2, seed=1)
    assert not np.array_equal(other.X_test, X_test)


def test_digits_options() -> None:
    s = digits(test_size=100, seed=3, one_hot_targets=True, dtype=np.float32)
    assert s.X_test.shape == (100, 64) and s.X_train.dtype == np.float32
    assert s.Y_test.shape == (100, 10) and s.Y_test.dtype == np.float32
    np.testing.assert_array_equal(s.Y_test.sum(axis=1), 1)


@pytest.mark.parametrize(
    ("test_size", "match"),
    [
        (0.0, r"test_size as a fraction must be in \(0, 1\), got 0.0"),
        (1.5, r"test_size as a fraction must be in \(0, 1\), got 1.5"),
        (1797, r"test_size=1797 leaves 1797 test examples of 1797; expected between 1 and 1796"),
        (0, r"test_size=0 leaves 0 test examples"),
        ("half", r"test_size must be a fraction or a count, got 'half'"),
    ],
)
def test_digits_rejects_bad_test_sizes(test_size: object, match: str) -> None:
    with pytest.raises(ng.ConfigError, match=match):
        digits(test_size=test_size)  # type: ignore[arg-type]


# Checksums of digits() computed with the implementation that read scikit-learn's copy
# (before the data shipped inside nablagraph): the splits must not change.
_DIGITS_SHA256 = [
    ({"seed": 0}, "6ba37256b174fc44f6692122aaae60bd26af6e68dd5b86790a41e495df868226"),
    ({"seed": 1}, "d6e649d4a064c0dd31fd01482c0a84851e1189797cb7641b9ba9a5a7b5eb31e5"),
    ({"seed": 42, "test_size": 100}, "3b8306649a8bf242b158794b1aa3927f69e23cc3104e31226312b79bf68d0e11"),
    ({"seed": 7, "one_hot_targets": True, "dtype": np.float32},
     "c4ba3556f1d318cdd1c8de795e6ca1150c8a66347f0e7b9682e686131e44a701"),
]


@pytest.mark.parametrize(("kwargs", "sha256"), _DIGITS_SHA256)
def test_digits_splits_are_those_of_the_scikit_learn_based_version(kwargs: dict[str, object], sha256: str) -> None:
    h = hashlib.sha256()
    for a in digits(**kwargs):  # type: ignore[arg-type]
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    assert h.hexdigest() == sha256


def test_the_shipped_digits_equal_scikit_learns_exactly() -> None:
    # scikit-learn is in the dev extra, so this runs in CI; a plain import error fails.
    from sklearn.datasets import load_digits

    ref = load_digits()
    with np.load(Path(ng.data.__file__).with_name("datasets") / "digits.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["images", "target"]
        images, target = f["images"], f["target"]
    assert images.dtype == np.uint8 and target.dtype == np.uint8
    np.testing.assert_array_equal(images, ref.images)
    np.testing.assert_array_equal(images.reshape(-1, 64), ref.data)
    np.testing.assert_array_equal(target, ref.target)
    # And the maintainer's tool rebuilds the same arrays from scikit-learn's CSV.
    from nablagraph.datasets import make_digits

    again_images, again_target = make_digits.read_csv(make_digits.sklearn_csv())
    np.testing.assert_array_equal(again_images, images)
    np.testing.assert_array_equal(again_target, target)


def test_digits_does_not_import_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("sklearn", "sklearn.datasets"):
        monkeypatch.setitem(sys.modules, name, None)  # any import of it would fail
    X_train, _, X_test, _ = digits(seed=0)
    assert X_train.shape == (1437, 64) and X_test.shape == (360, 64)


def test_a_damaged_data_file_is_a_data_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "data.py"
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "digits.npz").write_bytes(b"PK\x03\x04 truncated")
    monkeypatch.setattr(ng.data, "__file__", str(fake))
    with pytest.raises(ng.DataError, match=r"digits: cannot read the shipped data file .*digits.npz.*reinstall nablagraph"):
        digits()
    np.savez(tmp_path / "datasets" / "digits.npz", images=np.zeros((3, 8, 8), np.uint8), target=np.zeros(3, np.uint8))
    with pytest.raises(ng.DataError, match=r"holds images \(3, 8, 8\) uint8 and labels \(3,\); expected \(1797, 8, 8\)"):
        digits()


# ------------------------------------------------------------------ IDX
def _idx(dtype_code: int, arr: np.ndarray) -> bytes:
    head = struct.pack(">BBBB", 0, 0, dtype_code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def mnist_like(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    ip, lp = tmp_path / "images-idx3-ubyte", tmp_path / "labels-idx1-ubyte"
    ip.write_bytes(_idx(0x08, images))
    lp.write_bytes(_idx(0x08, labels))
    return ip, lp, images, labels


def test_mnist_idx_files_load_plain_and_gzipped(
    tmp_path: Path, mnist_like: tuple[Path, Path, np.ndarray, np.ndarray]
) -> None:
    ip, lp, images, labels = mnist_like
    X, y = load_mnist_idx(ip, lp)
    assert X.shape == (5, 12) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(X, images.reshape(5, 12) / 255.0)
    np.testing.assert_array_equal(y, labels)
    # gzip is recognised from the content, whatever the name.
    gi, gl = tmp_path / "images.gz", tmp_path / "labels-no-suffix"
    gi.write_bytes(gzip.compress(ip.read_bytes()))
    gl.write_bytes(gzip.compress(lp.read_bytes()))
    X2, y2 = load_mnist_idx(str(gi), gl, normalize=False, flatten=False, dtype=np.float32)
    assert X2.shape == (5, 4, 3) and X2.dtype == np.float32
    np.testing.assert_array_equal(X2, images)
    np.testing.assert_array_equal(y2, labels)


def test_read_idx_reads_every_element_type(tmp_path: Path) -> None:
    for code, dt in [(0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)]:
        arr = (np.arange(24).reshape(2, 3, 4) - 12).astype(dt)
        p = tmp_path / f"t{code}"
        p.write_bytes(_idx(code, arr))
        got = read_idx(p)
        assert got.dtype == np.dtype(dt) and got.dtype.isnative
        np.testing.assert_array_equal(got, arr)


def test_bad_idx_files_are_refused_with_what_was_expected(
    tmp_path: Path, mnist_like: tuple[Path, Path, np.ndarray, np.ndarray]
) -> None:
    ip, lp, _, _ = mnist_like
    good = ip.read_bytes()
    bad = tmp_path / "bad"

    def refused(content: bytes, match: str, labels: Path = lp) -> None:
        bad.write_bytes(content)
        with pytest.raises(FileFormatError, match=match):
            load_mnist_idx(bad, labels)

    refused(good[:-7], r"is truncated: dimensions \(5, 4, 3\) of uint8 need 76 bytes, the file has 69")
    refused(good + b"\0", r"is longer than its header says: .* need 76 bytes, the file has 77")
    refused(b"\x12\x34" + good[2:], r"is not an IDX file: its magic number starts with bytes 0x12 0x34, expected 0x00 0x00")
    refused(good[:2] + b"\x07" + good[3:], r"has IDX type code 0x07; expected one of 0x08, 0x09")
    refused(good[:10], r"is truncated: 10 bytes, but its header alone needs 16 for 3 dimensions")
    refused(b"\0\0", r"has 2 bytes, too short for an IDX header")
    refused(gzip.compress(good)[:-10], r"is a gzip file but could not be decompressed \(truncated or corrupt")
    # The labels file given for the images, and a count mismatch.
    with pytest.raises(FileFormatError, match=r"holds uint8 data of shape \(5,\); MNIST images are unsigned bytes of shape \(n, rows, cols\)"):
        load_mnist_idx(lp, lp)
    with pytest.raises(FileFormatError, match=r"holds uint8 data of shape \(5, 4, 3\); MNIST labels are unsigned bytes of shape \(n,\)"):
        load_mnist_idx(ip, ip)
    four = tmp_path / "four-labels"
    four.write_bytes(_idx(0x08, np.zeros(4, dtype=np.uint8)))
    with pytest.raises(FileFormatError, match=r"5 images but 4 labels"):
        load_mnist_idx(ip, four)
    with pytest.raises(FileNotFoundError, match=r"load_mnist_idx: no such file: .*missing"):
        load_mnist_idx(tmp_path / "missing", lp)


# ------------------------------------------------------------------ hostile IDX files
def test_hostile_idx_headers_are_refused_before_anything_is_allocated(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    cases = [
        (b"\0\0\x08\x04" + (65536).to_bytes(4, "big") * 4 + bytes(16),
         r"is truncated: dimensions \(65536, 65536, 65536, 65536\) of uint8 need 18446744073709551636 bytes, the file has 36"),
        (b"\0\0\x08\x21" + bytes(4 * 33), r"declares 33 dimensions; at most 32 are supported"),
        (b"\0\0\x0e\x03" + (2**32 - 1).to_bytes(4, "big") * 2 + bytes(4),
         r"declares dimensions \(4294967295, 4294967295, 0\) of float64, beyond what an array can hold"),
        (b"\0\0\x0e\x02" + (2**32 - 1).to_bytes(4, "big") * 2,
         r"is truncated: dimensions \(4294967295, 4294967295\) of float64 need \d+ bytes, the file has 12"),
        (gzip.compress(b"\0\0\x08\x02" + (2**31).to_bytes(4, "big") * 2),
         r"is truncated: dimensions \(2147483648, 2147483648\) of uint8 need \d+ bytes, more than its \d+ compressed bytes can hold \(deflate expands at most 1032:1\)"),
        (gzip.compress(b"\0\0\x08\x03" + (2).to_bytes(4, "big") * 3 + bytes(5)),
         r"is truncated: dimensions \(2, 2, 2\) of uint8 need 24 bytes, the decompressed file has 21"),
        (gzip.compress(b"\0\0\x08"), r"has 3 bytes, too short for an IDX header"),
        (gzip.compress(b"\0\0\x08\x03\0\0"), r"is truncated: 6 bytes once decompressed, but its header alone needs 16"),
    ]
    tracemalloc.start()
    try:
        for content, match in cases:
            bad.write_bytes(content)
            with pytest.raises(FileFormatError, match=match):
                read_idx(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


def test_a_gzip_bomb_is_decompressed_only_as_far_as_its_header_declares(tmp_path: Path) -> None:
    """5 labels declared, 64 MB of zeros behind them (64 kB compressed): refused after 14 bytes."""
    bomb = tmp_path / "labels.gz"
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(b"\0\0\x08\x01" + (5).to_bytes(4, "big") + bytes(5))]
    parts += [comp.compress(bytes(1 << 20)) for _ in range(64)]
    bomb.write_bytes(b"".join(parts) + comp.flush())
    assert bomb.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"labels.gz' is longer than its header says: dimensions \(5,\) of uint8 need 13 bytes, the decompressed file has more"):
            read_idx(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20  # not the 64 MB the stream inflates to


def test_a_corrupt_gzip_trailer_is_caught(tmp_path: Path, mnist_like: tuple[Path, Path, np.ndarray, np.ndarray]) -> None:
    ip, lp, _, _ = mnist_like
    z = bytearray(gzip.compress(ip.read_bytes()))
    z[-8] ^= 0xFF  # the CRC-32 of the data
    bad = tmp_path / "bad.gz"
    bad.write_bytes(bytes(z))
    with pytest.raises(FileFormatError, match=r"is a gzip file but could not be decompressed \(truncated or corrupt: CRC check failed"):
        load_mnist_idx(bad, lp)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs and /dev/zero")
def test_idx_readers_refuse_fifos_devices_and_directories(tmp_path: Path) -> None:
    fifo = tmp_path / "images.fifo"
    os.mkfifo(fifo)
    script = (
        "import nablagraph as ng\n"
        f"for p in ({str(fifo)!r}, '/dev/zero'):\n"
        "    try:\n"
        "        ng.data.read_idx(p)\n"
        "    except ng.FileFormatError as exc:\n"
        "        print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].endswith("images.fifo' is a FIFO (named pipe), not a regular file; give the path of a file")
    assert lines[1] == "read_idx: '/dev/zero' is a character device, not a regular file; give the path of a file"
    with pytest.raises(IsADirectoryError, match=r"load_mnist_idx: is a directory, not a file"):
        load_mnist_idx(tmp_path, tmp_path)
