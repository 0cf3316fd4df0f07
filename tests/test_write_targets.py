"""What ``save`` / ``save_file`` (and the command's outputs) write onto: never a device,
a pipe or a link loop, never a lone surrogate; the argument types are checked."""

from __future__ import annotations

import contextlib
import errno
import io as _io
import os
import stat
from pathlib import Path

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import cli, io
from nablagraph.nn import Network


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``nablagraph argv`` in process: ``(exit code, stdout, stderr)``."""
    out, err = _io.StringIO(), _io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def _net() -> Network:
    return Network([2, 3, 1], seed=0)


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"note": "caf\udce9"}, r"save_file: the metadata value of 'note' holds a lone surrogate '\\udce9' at index 3, "
                                r"which UTF-8 cannot encode"),
        ({"n\ud800": "x"}, r"save_file: a metadata key holds a lone surrogate '\\ud800' at index 1"),
    ],
)
def test_a_lone_surrogate_in_metadata_is_a_config_error_and_nothing_is_written(
    tmp_path: Path, metadata: dict[str, str], message: str
) -> None:
    path = tmp_path / "m.safetensors"
    with pytest.raises(ng.ConfigError, match=message):
        ng.save(_net(), path, metadata)
    assert list(tmp_path.iterdir()) == []


def test_a_lone_surrogate_in_a_tensor_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ng.ConfigError, match=r"save_file: the tensor name 'W\\udc80' holds a lone surrogate"):
        io.save_file({"W\udc80": np.eye(2)}, tmp_path / "t.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_valid_non_ascii_metadata_still_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "ü ñ 日本.safetensors"
    ng.save(_net(), path, {"note": "café 日本 \U0001F600"})
    assert io.read_metadata(path)["note"] == "café 日本 \U0001F600"


def test_save_onto_a_fifo_refuses_and_leaves_the_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(ng.FileFormatError, match=r"save: '.*pipe.safetensors' is a FIFO \(named pipe\), not a "
                                                 r"regular file"):
        ng.save(_net(), fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # not replaced by a regular file
    assert _leftovers(tmp_path) == []


def test_save_through_a_link_to_a_fifo_refuses(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link.safetensors"
    link.symlink_to(fifo)
    with pytest.raises(ng.FileFormatError, match=r"is a FIFO \(named pipe\), not a regular file"):
        io.save_file({"a": np.zeros(2)}, link)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink()


def test_save_onto_a_folder_is_an_is_a_directory_error(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match=r"save: is a directory, not a file"):
        ng.save(_net(), tmp_path)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("loop", ["self", "pair"])
def test_save_onto_a_symlink_loop_refuses_and_keeps_the_links(tmp_path: Path, loop: str) -> None:
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    if loop == "self":
        a.symlink_to(a.name)
    else:
        a.symlink_to(b.name)
        b.symlink_to(a.name)
    with pytest.raises(OSError, match=r"save: the symbolic link loops") as info:
        ng.save(_net(), a)
    assert info.value.errno == errno.ELOOP
    assert a.is_symlink() and os.readlink(a) == (a.name if loop == "self" else b.name)
    assert _leftovers(tmp_path) == []


def test_save_through_a_good_link_still_replaces_the_target(tmp_path: Path) -> None:
    real = tmp_path / "real.safetensors"
    ng.save(Network([2, 4, 1], seed=0), real)
    link = tmp_path / "link.safetensors"
    link.symlink_to(real.name)
    ng.save(_net(), link)
    assert link.is_symlink() and ng.load(real).sizes == [2, 3, 1]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (3, r"save: expected a file path \(str or os.PathLike\), got int"),
        (b"m.safetensors", r"save: expected a file path \(str or os.PathLike\), got bytes"),
        ("m\0.safetensors", r"save: the file path 'm\\x00.safetensors' holds a NUL character"),
    ],
)
def test_save_needs_a_path(path: object, message: str) -> None:
    with pytest.raises(ng.ConfigError, match=message):
        ng.save(_net(), path)  # type: ignore[arg-type]


@pytest.mark.parametrize(("path", "kind"), [(3, "int"), (None, "NoneType")])
def test_load_needs_a_path_and_never_reads_a_file_descriptor(path: object, kind: str) -> None:
    with pytest.raises(ng.ConfigError, match=rf"load: expected a file path \(str or os.PathLike\), got {kind}"):
        ng.load(path)  # type: ignore[arg-type]


@pytest.mark.parametrize("metadata", ["note", [("note", "x")]])
def test_save_metadata_must_be_a_mapping(tmp_path: Path, metadata: object) -> None:
    with pytest.raises(ng.ConfigError, match=r"save: metadata must be a mapping of str to str, got "):
        ng.save(_net(), tmp_path / "m.safetensors", metadata)  # type: ignore[arg-type]


def test_the_command_refuses_an_output_link_loop_before_training(tmp_path: Path) -> None:
    loop = tmp_path / "m.safetensors"
    loop.symlink_to(loop.name)
    code, out, err = run_cli(["train", "--data", "xor", "--sizes", "2,3,1", "--epochs", "1", "--save", str(loop)])
    assert code == 2
    assert out == ""  # refused before any training
    assert err.strip().splitlines()[-1].endswith(
        "m.safetensors: the symbolic link loops (it leads back to itself); remove it or choose another name")
    assert loop.is_symlink() and _leftovers(tmp_path) == []


def test_the_command_names_a_model_link_loop(tmp_path: Path) -> None:
    loop = tmp_path / "m.safetensors"
    loop.symlink_to(loop.name)
    code, _, err = run_cli(["check", str(loop), "--data", "xor"])
    assert code == 2
    assert err.strip().endswith("m.safetensors is a symbolic link that loops or leads nowhere")


def test_the_demo_refuses_a_looping_out_folder_and_file(tmp_path: Path) -> None:
    loop = tmp_path / "out"
    loop.symlink_to(loop.name)
    code, _, err = run_cli(["demo", "--out", str(loop)])
    assert code == 2 and err.strip().endswith("the symbolic link loops (it leads back to itself); give a folder")
    out = tmp_path / "real"
    out.mkdir()
    (out / "graph.svg").symlink_to("graph.svg")
    code, _, err = run_cli(["demo", "--out", str(out)])
    assert code == 2 and err.strip().endswith("graph.svg there is a symbolic link that loops; remove it or "
                                              "choose another folder")


XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0, 1, 1, 0])


def _bad_checkpoint_path(tmp_path: Path, kind: str) -> Path:
    if kind == "folder":
        return tmp_path
    if kind == "missing folder":
        return tmp_path / "nowhere" / "run.safetensors"
    path = tmp_path / "run.safetensors"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(path.name)
    return path


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("folder", IsADirectoryError, r"fit: checkpoint_path: is a directory, not a file"),
        ("missing folder", FileNotFoundError, r"fit: checkpoint_path: the directory '.*nowhere' does not exist; "
                                              r"create it first"),
        ("fifo", ng.FileFormatError, r"fit: checkpoint_path: '.*run.safetensors' is a FIFO \(named pipe\)"),
        ("link loop", OSError, r"fit: checkpoint_path: the symbolic link loops"),
    ],
)
def test_a_bad_checkpoint_path_is_refused_before_the_first_epoch(
    tmp_path: Path, kind: str, error: type[BaseException], message: str
) -> None:
    net = _net()
    before = net.state_dict()
    with pytest.raises(error, match=message) as info:
        ng.fit(net, XOR_X, XOR_Y, epochs=5, batch_size=2, lr=1.0, verbose=False, checkpoint_every=5,
               checkpoint_path=_bad_checkpoint_path(tmp_path, kind))
    assert type(info.value) is error
    # Refused before the first step: the parameters are bit for bit the initial ones.
    assert all(np.array_equal(before[k], v) for k, v in net.state_dict().items())


def test_a_good_checkpoint_path_still_works_through_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.safetensors"
    link = tmp_path / "link.safetensors"
    link.symlink_to(real.name)
    ng.fit(_net(), XOR_X, XOR_Y, epochs=2, batch_size=2, verbose=False, checkpoint_every=1, checkpoint_path=link)
    assert link.is_symlink() and "checkpoint" in io.read_metadata(real)


def test_a_model_spec_longer_than_a_file_name_is_read_as_sizes(tmp_path: Path) -> None:
    # 130 layer sizes: 261 characters, more than a file name may have (ENAMETOOLONG).
    sizes = ",".join(["2"] * 130) + ",1"
    assert not cli.commands._is_model_file(sizes)
    code, _, err = run_cli(["graph", sizes, "--data", "xor", "-o", str(tmp_path / "g.dot")])
    assert (code, err) == (0, "")
    assert "digraph" in (tmp_path / "g.dot").read_text(encoding="utf-8")


def test_the_cli_speaks_of_its_options_when_even_the_per_layer_png_is_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nablagraph.viz import renderer

    monkeypatch.setattr(renderer, "MAX_PIXELS", 10_000)  # the 2-3-1 diagram, one box a layer, is larger
    code, out, err = run_cli(["graph", "2,3,1", "--data", "xor", "-o", str(tmp_path / "g.png")])
    assert code == 2
    assert "drawing one box per layer (--collapse layers" in out
    assert err.strip().endswith("g.png: the diagram is too large for a PNG even with one box per layer; "
                                "write .svg instead")
    # Not the library's advice (render(C, ...), collapse='layers', max_pixels=): no such options here.
    assert "render(" not in err and "collapse=" not in err and "max_pixels" not in err
    assert list(tmp_path.iterdir()) == []


def test_check_of_a_float32_model_names_the_option_not_the_argument(tmp_path: Path) -> None:
    path = tmp_path / "f32.safetensors"
    ng.save(Network([2, 3, 1], seed=0, dtype=np.float32), path)
    code, out, _ = run_cli(["check", str(path), "--data", "xor"])
    assert code == 0
    assert "finite differences skipped: the parameters are float32" in out
    assert "(or pass --fd full to see it anyway)" in out and "fd='full'" not in out


def test_check_of_a_custom_activation_model_gives_no_python_remedy(tmp_path: Path) -> None:
    path = tmp_path / "custom.safetensors"
    ng.save(Network([2, 3, 1], activation=lambda t: ng.sigmoid(t), seed=0), path)
    code, _, err = run_cli(["check", str(path), "--data", "xor"])
    assert code == 2
    assert err.strip().endswith("uses the custom activation '<lambda>' (activation); the command reads only "
                                "Networks with built-in activations (files written by nablagraph train --save "
                                "or nablagraph.save)")
    assert "load_into" not in err


def _idx(path: Path, arr: np.ndarray) -> None:
    head = b"\0\0\x08" + bytes([arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(head + arr.astype(np.uint8).tobytes())


def test_mnist_folders_and_files_with_a_comma_in_their_names(tmp_path: Path) -> None:
    d = tmp_path / "mnist, 2024"
    d.mkdir()
    rng = np.random.default_rng(0)
    _idx(d / "train-images-idx3-ubyte", rng.integers(0, 256, (12, 4, 4)))
    _idx(d / "train-labels-idx1-ubyte", rng.integers(0, 10, 12))
    base = ["train", "--sizes", "16,10", "--epochs", "1", "--quiet"]
    code, out, err = run_cli([*base, "--data", f"mnist:{d}"])
    assert (code, err) == (0, ""), err
    assert "test accuracy" in out
    images, labels = d / "train-images-idx3-ubyte", d / "train-labels-idx1-ubyte"
    code, _, err = run_cli([*base, "--data", f"mnist:{images},{labels}"])
    assert (code, err) == (0, ""), err
    code, _, err = run_cli([*base, "--data", f"mnist:{images},{d / 'absent'}"])
    assert code == 2 and err.strip().endswith("load_mnist_idx: no such file: " + repr(str(d / "absent")))


@pytest.mark.parametrize("char", ["m", "\U0001F600"])
def test_a_target_name_near_the_length_limit_is_writable(tmp_path: Path, char: str) -> None:
    # 240 bytes of name (+ ".safetensors" = 252 bytes, under the usual 255): the temporary
    # file beside it must not be longer than the limit.
    stem = char * (240 // len(char.encode("utf-8")))
    path = tmp_path / f"{stem}.safetensors"
    ng.save(_net(), path)
    assert ng.load(path).sizes == [2, 3, 1]
    graph = tmp_path / f"{stem}.png"
    code, _, err = run_cli(["graph", "2,3,1", "--data", "xor", "-o", str(graph)])
    assert (code, err) == (0, "")
    assert graph.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _leftovers(tmp_path) == [] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("fmt", ["dot", "svg"])
def test_render_onto_a_fifo_refuses_at_once_instead_of_blocking(tmp_path: Path, fmt: str) -> None:
    fifo = tmp_path / f"graph.{fmt}"
    os.mkfifo(fifo)
    C = _net().cost(np.ones((4, 2)), np.ones((4, 1)))
    with pytest.raises(ng.FileFormatError, match=rf"render: '.*graph.{fmt}' is a FIFO \(named pipe\), not a regular file"):
        ng.viz.render(C, fifo)
    with pytest.raises(ng.FileFormatError, match=r"Diagram.write: .* is a FIFO"):
        ng.viz.to_graphviz(C).write(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and _leftovers(tmp_path) == []


def test_render_writes_through_a_link_and_replaces_atomically(tmp_path: Path) -> None:
    real = tmp_path / "real.svg"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "link.svg"
    link.symlink_to(real.name)
    ng.viz.render(_net().cost(np.ones((4, 2)), np.ones((4, 1))), link)
    assert link.is_symlink() and real.read_text(encoding="utf-8").lstrip().startswith("<")
    assert _leftovers(tmp_path) == []


def test_plots_refuse_a_fifo_and_an_unknown_extension(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from nablagraph.tools import plot

    h = ng.fit(_net(), XOR_X, XOR_Y, epochs=2, batch_size=2, verbose=False)
    fifo = tmp_path / "curves.png"
    os.mkfifo(fifo)
    with pytest.raises(ng.FileFormatError, match=r"plot: '.*curves.png' is a FIFO \(named pipe\), not a regular file"):
        plot.plot_history(h, fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with pytest.raises(ng.ConfigError, match=r"plot: cannot write '.*curves.xyz': the extension picks the format "
                                             r"and matplotlib writes .*png.*; got '.xyz'"):
        plot.plot_history(h, tmp_path / "curves.xyz")
    out = plot.plot_history(h, tmp_path / "new" / "curves.svg")
    assert Path(out).read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "new") == []


@pytest.mark.parametrize(
    ("sizes", "X", "message"),
    [
        ([1, 3, 1], np.arange(4.0), r"fit: X is 1-D \(shape \(4,\)\) but a Network takes one example per row, shape "
                                    r"\(M, 1\); pass X.reshape\(-1, 1\) for 4 examples of one feature"),
        ([2, 3, 1], np.zeros(5), r"shape \(M, 2\); pass examples of 2 values each"),
    ],
)
def test_fit_names_a_1d_x_before_comparing_rows(sizes: list[int], X: np.ndarray, message: str) -> None:
    with pytest.raises(ng.ShapeError, match=message):
        ng.fit(Network(sizes, seed=0), X, np.zeros(len(X)), epochs=1, batch_size=2, verbose=False)


def test_a_target_count_of_one_is_one_row() -> None:
    with pytest.raises(ng.ShapeError, match=r"fit: Y has 1 row \(shape \(1,\)\) but the inputs have 4 rows"):
        ng.fit(_net(), XOR_X, np.array([0]), epochs=1, batch_size=2, verbose=False)


def test_an_output_below_a_link_loop_names_the_loop(tmp_path: Path) -> None:
    loop = tmp_path / "runs"
    loop.symlink_to(loop.name)
    code, out, err = run_cli(["train", "--data", "xor", "--sizes", "2,3,1", "--save", str(loop / "m.safetensors")])
    assert (code, out) == (2, "")
    assert err.strip().endswith(f"cannot create the folder {loop}: {loop} is a symbolic link that loops")


def test_save_file_checks_its_tensors_argument(tmp_path: Path) -> None:
    with pytest.raises(ng.ConfigError, match=r"save_file: tensors must be a mapping of names to arrays, got list"):
        io.save_file([("a", np.zeros(2))], tmp_path / "t.safetensors")  # type: ignore[arg-type]
    with pytest.raises(ng.ShapeError, match=r"save_file: tensor 'a' is ragged \(rows of different lengths\)"):
        io.save_file({"a": [[1.0], [2.0, 3.0]]}, tmp_path / "t.safetensors")  # type: ignore[dict-item]
    assert list(tmp_path.iterdir()) == []


def test_metadata_copied_from_another_file_never_makes_an_unreadable_file(tmp_path: Path) -> None:
    src = tmp_path / "a.safetensors"
    io.save_file({"a": np.zeros(2)}, src, {"note": "x"})
    _, meta = io.read_file(src)
    assert "header_sha256" in meta and "data_sha256" in meta
    for checksum in (True, False):
        dst = tmp_path / f"b{checksum}.safetensors"
        io.save_file({"b": np.ones(3)}, dst, meta, checksum=checksum)
        tensors, back = io.read_file(dst)
        assert np.array_equal(tensors["b"], np.ones(3)) and back["note"] == "x"
        assert ("header_sha256" in back) is checksum


def test_load_mnist_idx_of_zero_images_is_an_empty_batch(tmp_path: Path) -> None:
    _idx(tmp_path / "images", np.zeros((0, 28, 28)))
    _idx(tmp_path / "labels", np.zeros(0))
    X, y = ng.data.load_mnist_idx(tmp_path / "images", tmp_path / "labels")
    assert X.shape == (0, 784) and y.shape == (0,)
    code, _, err = run_cli(["train", "--data", f"mnist:{tmp_path / 'images'},{tmp_path / 'labels'}", "--sizes", "784,10"])
    assert code == 2 and "the MNIST files hold 0 examples; at least 2 are needed" in err


@pytest.mark.parametrize("activation", ["identity", "tanh", "relu"])
def test_cli_binary_cross_entropy_keeps_a_sigmoid_output_whatever_the_hidden_activation(activation: str) -> None:
    # --activation is the hidden layers' σ; with an identity/tanh/relu output the binary
    # cross-entropy was clipped, its gradient ~1e11 and finite differences 0: check FAILED.
    code, out, _ = run_cli(["check", "2,3,1", "--data", "xor", "--activation", activation, "--fd", "full"])
    assert code == 0, out
    assert f"activation={activation}, output_activation=sigmoid, cost=binary_cross_entropy" in out
    assert "Result: PASSED" in out
