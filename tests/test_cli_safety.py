"""The command never loses a trained model: outputs checked up front, interrupts, plain installs.

Signals are sent to a real child process (``python -m nablagraph`` or the launcher
``_nablagraph_main``); missing extras are simulated in a child that blocks their
imports (``sys.modules[name] = None``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io as _io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import cli
from nablagraph import io as ngio

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and symlinks")

XOR = ["--data", "xor", "--sizes", "2,3,1", "--cost", "quadratic", "--epochs", "1", "--quiet"]
BLOCK = (
    "import sys; sys.modules['matplotlib'] = None; sys.modules['sklearn'] = None; "
    "sys.modules['tqdm'] = None; from nablagraph.cli import main; raise SystemExit(main(sys.argv[1:]))"
)


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nablagraph", *args], capture_output=True, text=True,
        timeout=timeout, cwd=cwd, env=env,
    )


def run_blocked(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command with matplotlib, scikit-learn and tqdm made unimportable."""
    return subprocess.run([sys.executable, "-c", BLOCK, *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def in_process(argv: list[str]) -> tuple[int, str, str]:
    out, err = _io.StringIO(), _io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stray(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*") if ".tmp" in p.name or ".nablagraph-probe" in p.name)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "m.safetensors"
    ng.save(ng.nn.Network([2, 3, 1], seed=1), path)
    return path


def one_error_line(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


# ------------------------------------------------------------------ outputs, checked before any work
def test_two_outputs_that_are_one_file_through_a_link_are_refused_before_training(
    tmp_path: Path, model: Path
) -> None:
    before = digest(model)
    (tmp_path / "h.json").symlink_to(model)
    code, out, err = in_process(["train", *XOR, "--save", str(model), "--history", str(tmp_path / "h.json")])
    assert code == 2 and "training" not in out
    assert "--history" in err and "and --save" in err and "are the same file; each output needs its own file" in err
    assert digest(model) == before


def test_a_plot_written_over_the_model_through_a_link_is_refused(tmp_path: Path, model: Path) -> None:
    (tmp_path / "c.png").symlink_to(model)
    code, _, err = in_process(["train", *XOR, "--save", str(model), "--plot", str(tmp_path / "c.png")])
    assert code == 2 and "are the same file" in err


def test_graph_refuses_to_overwrite_its_input_model(tmp_path: Path, model: Path) -> None:
    png = tmp_path / "m.png"
    png.write_bytes(model.read_bytes())  # a model saved under an image's name, as before the checks
    proc = run("graph", str(png), "--data", "xor", "-o", str(png))
    line = one_error_line(proc)
    assert f"-o {png} is the model file being read ({png}); writing it would destroy the input" in line
    assert png.read_bytes() == model.read_bytes()
    # The same through a link to the model.
    (tmp_path / "g.svg").symlink_to(png)
    code, _, err = in_process(["graph", str(png), "--data", "xor", "-o", str(tmp_path / "g.svg")])
    assert code == 2 and "is the model file being read" in err


@pytest.mark.parametrize(
    ("option", "name", "message"),
    [
        ("--save", "m.png", r"--save m.png: models are written as .safetensors, chosen by the file's extension; got '.png'"),
        ("--history", "m.safetensors", r"--history m.safetensors: histories are written as .json or .csv"),
        ("--plot", "x.jpg2", r"--plot x.jpg2: plots are written as .png, .svg or .pdf, chosen by the file's extension; got '.jpg2'"),
    ],
)
def test_the_extension_decides_the_format_and_is_checked_before_training(
    tmp_path: Path, option: str, name: str, message: str
) -> None:
    code, out, err = in_process(["train", *XOR, option, str(tmp_path / name)])
    assert code == 2 and "training" not in out
    assert message.replace(option + " ", f"{option} {tmp_path}/") in err
    assert list(tmp_path.iterdir()) == []


def test_missing_folders_are_created_for_every_output(tmp_path: Path) -> None:
    code, _, err = in_process([
        "train", *XOR, "--save", str(tmp_path / "a" / "b" / "m.safetensors"),
        "--history", str(tmp_path / "c" / "h.csv"), "--plot", str(tmp_path / "d" / "e" / "c.svg"),
    ])
    assert code == 0, err
    assert ng.load(tmp_path / "a" / "b" / "m.safetensors").sizes == [2, 3, 1]
    assert (tmp_path / "c" / "h.csv").read_text().startswith("epoch,train_cost")
    assert b"<svg" in (tmp_path / "d" / "e" / "c.svg").read_bytes()
    code, _, err = in_process(["graph", "2,3,1", "--data", "xor", "-o", str(tmp_path / "f" / "g.dot")])
    assert code == 0 and (tmp_path / "f" / "g.dot").read_text().startswith("digraph")
    assert stray(tmp_path) == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("below-a-file", r"cannot create the folder .*m.safetensors: .*m.safetensors is a file"),
        ("a-folder", r"--save .*dir.safetensors: is a folder; give a file name ending in .safetensors"),
        ("proc", r"cannot create a file in the folder /proc \("),
    ],
)
def test_unwritable_outputs_are_refused_before_training(
    tmp_path: Path, model: Path, where: str, message: str
) -> None:
    if where == "proc" and not Path("/proc/self").exists():
        pytest.skip("needs Linux /proc, a folder no one can create files in")
    target = {
        "below-a-file": model / "m.safetensors",
        "a-folder": tmp_path / "dir.safetensors",
        "proc": Path("/proc/nablagraph-test/m.safetensors"),
    }[where]
    if where == "a-folder":
        target.mkdir()
    code, out, err = in_process(["train", *XOR, "--save", str(target)])
    assert code == 2 and "training" not in out
    assert err.count("\n") == 1
    import re

    assert re.search(message, err), err


def test_a_symlinked_output_is_followed_and_the_link_stays(tmp_path: Path, model: Path) -> None:
    link = tmp_path / "link.safetensors"
    link.symlink_to(model.name)  # relative, as ln -s m.safetensors link.safetensors
    code, _, err = in_process(["train", *XOR, "--seed", "7", "--save", str(link)])
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == model.name
    assert ng.load(model).sizes == [2, 3, 1]
    assert not np.array_equal(ng.load(model).layers[0].W.data, ng.nn.Network([2, 3, 1], seed=1).layers[0].W.data)
    # The library's save follows links the same way.
    net = ng.nn.Network([2, 4, 1], seed=0)
    ngio.save(net, link)
    assert link.is_symlink() and ng.load(model).sizes == [2, 4, 1]
    assert stray(tmp_path) == []


def test_atomic_write_removes_its_temporary_file_on_an_interrupt(tmp_path: Path, model: Path) -> None:
    before = digest(model)

    def chunks() -> Iterator[bytes]:
        yield b"x" * 1000
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ngio._atomic_write(model, chunks())
    assert digest(model) == before and stray(tmp_path) == []


# ------------------------------------------------------------------ resources and the last resort
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--sizes", "2,1000000000,1"], r"--sizes 2,1000000000,1: 4,000,000,001 parameters and their gradients and a batch of 10 need at least 224.0 GB in float64, but [\d.,]+ [kMGT]B of memory is available; use smaller layers"),
        (["check", "1000000,1000000"], r"model 1000000,1000000: 1,000,001,000,000 parameters and their gradients and a batch of 16 need at least 16.0 TB"),
        (["graph", "1000000,1000000", "-o", "g.svg"], r"1,000,001,000,000 parameters and a batch of 4 need at least 8.0 TB"),
    ],
)
def test_sizes_that_cannot_fit_in_memory_are_one_line_and_exit_2(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    proc = run(*argv, cwd=tmp_path, timeout=120)
    import re

    assert re.search(message, one_error_line(proc))


def test_the_memory_estimate_reads_memavailable_and_has_a_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    have = cli.available_memory()  # the library's estimate (nablagraph._memory), shared with Network
    assert have is not None and have > 0
    cli._check_memory("--sizes", [64, 30, 10], 10, gradients=True)  # a few kB always fit
    monkeypatch.setattr(cli.outputs, "available_memory", lambda: 10_000)
    with pytest.raises(cli.CLIError, match=r"--sizes 64,30,10: 2,260 parameters and their gradients and a batch of 10 need at least 52.8 kB in float64, but 10.0 kB"):
        cli._check_memory("--sizes", [64, 30, 10], 10, gradients=True)


class _ResourceError(ng.ResourceError):
    """The library's ResourceError (a NablaGraphError and a MemoryError)."""


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (MemoryError(), 2, "nablagraph train: error: out of memory; try smaller layers, batches or data"),
        (MemoryError("Unable to allocate 7.45 GiB"), 2, "nablagraph train: error: out of memory: Unable to allocate 7.45 GiB; try"),
        (_ResourceError("Network: needs 24 GB, 8 GB available"), 2, "nablagraph train: error: Network: needs 24 GB, 8 GB available"),
        (PermissionError(13, "Permission denied"), 2, "nablagraph train: error: [Errno 13] Permission denied"),
        (ZeroDivisionError("division by zero"), 1, "nablagraph train: internal error: ZeroDivisionError: division by zero — this is a bug in nablagraph, please report it (NABLAGRAPH_DEBUG=1 shows the traceback)"),
    ],
)
def test_the_last_resort_handler_gives_one_line(
    monkeypatch: pytest.MonkeyPatch, exc: Exception, code: int, message: str
) -> None:
    def boom(args: object) -> int:
        raise exc

    monkeypatch.setattr(cli, "cmd_train", boom)
    monkeypatch.delenv("NABLAGRAPH_DEBUG", raising=False)
    got, _, err = in_process(["train"])
    assert got == code
    assert err.strip() == message or err.startswith(message), err
    assert "Traceback" not in err and err.count("\n") == 1
    # NABLAGRAPH_DEBUG=1 adds the traceback (for a bug report).
    monkeypatch.setenv("NABLAGRAPH_DEBUG", "1")
    got, _, err = in_process(["train"])
    assert got == code and "Traceback (most recent call last)" in err


# ------------------------------------------------------------------ signals
def _default_sigint() -> None:
    # A shell starts a background job (`pytest … &`) with SIGINT ignored, and children
    # inherit that: Python then installs no KeyboardInterrupt handler, as it should
    # not. The child of a signal test gets the default, as from a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _popen(argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            preexec_fn=_default_sigint)


def _wait_for(proc: subprocess.Popen[str], ready: object, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        if callable(ready) and ready():
            return
        time.sleep(0.002)
    raise AssertionError(f"the child never got there (exit {proc.poll()}): {proc.communicate()}")


def _wait_stopped(proc: subprocess.Popen[str]) -> None:
    """Until the kernel has stopped the child (SIGSTOP is delivered asynchronously)."""
    stat = Path(f"/proc/{proc.pid}/stat")
    end = time.monotonic() + 5
    while time.monotonic() < end and proc.poll() is None:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                return
        except OSError:  # no /proc (not Linux): give the signal a moment
            time.sleep(0.05)
            return
        time.sleep(0.001)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_a_save_leaves_the_previous_model_and_no_temporary_file(
    tmp_path: Path, model: Path, sig: signal.Signals, code: int
) -> None:
    before = digest(model)

    def saving() -> bool:
        return any(p.name.endswith(".tmp") for p in tmp_path.iterdir())

    # A 2-2000-2000-1 network: 32 MB to write and fsync. The child is stopped (SIGSTOP)
    # as soon as its temporary file appears; if the file is still there, the save is
    # caught in the act (the rename that ends it removes the file), and the signal
    # arrives when the child continues. On a fast disk the save may slip past the
    # check: then the run is tried again.
    for _attempt in range(5):
        proc = _popen([sys.executable, "-m", "nablagraph", "train", "--data", "xor", "--sizes", "2,2000,2000,1",
                       "--epochs", "1", "--batch-size", "4", "--quiet", "--save", str(model)], tmp_path)
        _wait_for(proc, saving)
        proc.send_signal(signal.SIGSTOP)
        _wait_stopped(proc)
        if proc.poll() is None and saving():
            break
        proc.send_signal(signal.SIGCONT)
        proc.communicate(timeout=120)
        before = digest(model)  # that run saved a model: the one a later run must keep
    else:
        pytest.fail("the save never stayed long enough to be caught in five runs")
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, out + err
    assert "Traceback" not in err
    assert err.strip() == f"nablagraph train: interrupted ({sig.name}); nothing more was written"
    assert stray(tmp_path) == [] and digest(model) == before


@pytest.mark.slow
def test_sigint_during_training_is_exit_130_and_writes_nothing(tmp_path: Path) -> None:
    out_file = tmp_path / "never.safetensors"
    proc = _popen([sys.executable, "-u", "-m", "nablagraph", "train", "--epochs", "200", "--quiet",
                   "--save", str(out_file), "--history", str(tmp_path / "h.json")], tmp_path)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "training Network(...) on handwritten digits ..."
    assert first.startswith("training "), first
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.strip() == "nablagraph train: interrupted (SIGINT); nothing more was written"
    assert list(tmp_path.iterdir()) == []


_BOMB = """
import os, signal, sys
class Bomb:  # the signal arrives while NumPy is being imported
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            os.kill(os.getpid(), signal.{sig})
        return None
sys.meta_path.insert(0, Bomb())
sys.argv = ["nablagraph", "demo"]
from _nablagraph_main import main
raise SystemExit(main())
"""


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_during_start_up_is_one_line(tmp_path: Path, sig: str, code: int) -> None:
    proc = subprocess.run([sys.executable, "-c", _BOMB.format(sig=sig)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, preexec_fn=_default_sigint)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.strip() == f"nablagraph: interrupted ({sig}) while starting; nothing was written"
    assert list(tmp_path.iterdir()) == []


def test_the_command_entry_point_is_the_launcher() -> None:
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "nablagraph"]
    assert ep.value == "_nablagraph_main:main"
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.argv = ['nablagraph', '--version']; "
                           "from _nablagraph_main import main; raise SystemExit(main())"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("nablagraph ")


# ------------------------------------------------------------------ a plain install (no extras)
@pytest.mark.slow
def test_demo_without_matplotlib_sklearn_or_tqdm_runs_to_the_end(tmp_path: Path) -> None:
    proc = run_blocked("demo", "--out", str(tmp_path / "out"), "--epochs", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr == ""
    skipped = [ln for ln in proc.stdout.splitlines() if "skipped" in ln]
    assert skipped == ["   (training.png skipped: the training curves need matplotlib: pip install 'nablagraph[plot]')"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "gradient_check.json", "graph.png", "graph.svg", "history.json"]
    assert "result: gradients proved and the network learned" in proc.stdout


def test_train_and_graph_without_the_extras(tmp_path: Path) -> None:
    proc = run_blocked("train", "--epochs", "1", "--quiet", "--save", str(tmp_path / "m.safetensors"),
                       cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "on handwritten digits (1437 train / 360 test" in proc.stdout
    proc = run_blocked("graph", "64,30,10", "-o", str(tmp_path / "g.svg"), "--grads", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "δ" in (tmp_path / "g.svg").read_text()


@pytest.mark.parametrize("argv", [["train", "--epochs", "1", "--plot", "c.png"], ["bench", "--plot", "b.png"]])
def test_an_explicit_plot_without_matplotlib_is_refused_before_any_work(tmp_path: Path, argv: list[str]) -> None:
    proc = run_blocked(*argv, cwd=tmp_path)
    line = one_error_line(proc)
    assert line.endswith("error: --plot needs matplotlib, which is not installed: pip install 'nablagraph[plot]'")
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_read_only_output_file_is_refused(tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # os.access answers for the real user; root may write anything, so ask it directly.
    real_access = os.access
    monkeypatch.setattr(cli.os, "access", lambda p, mode: False if Path(p) == model else real_access(p, mode))
    before = digest(model)
    code, out, err = in_process(["train", *XOR, "--save", str(model)])
    assert code == 2 and "training" not in out
    assert err.strip() == (f"nablagraph train: error: --save {model}: the file is read-only; "
                           "make it writable or choose another name")
    assert digest(model) == before


def test_a_closed_pipe_on_stdout_ends_quietly(tmp_path: Path) -> None:
    proc = _popen([sys.executable, "-m", "nablagraph", "train", "--epochs", "30", "--quiet"], tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith("training ")
    proc.stdout.close()  # as `nablagraph train | head -1` does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert err == ""
