"""The ``nablagraph`` command, through its real entry point (``python -m nablagraph``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nablagraph", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd,
    )


def test_demo_trains_proves_and_writes_its_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run("demo", "--out", str(out), "--epochs", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert "test accuracy" in text and "epoch" in text
    assert "Per parameter: max rel error of each pair of routes" in text
    assert "FD needs 6·P = 13,560 forward passes" in text
    assert "Result: PASSED" in text
    assert f"outputs written to {out.resolve()}" in text
    assert (out / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (out / "graph.svg").read_bytes()
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hist = json.loads((out / "history.json").read_text())
    assert len(hist["epoch"]) == 3
    assert json.loads((out / "gradient_check.json").read_text())["passed"] is True


def test_train_saves_model_history_and_plot_then_check_and_graph_use_it(tmp_path: Path) -> None:
    model = tmp_path / "xor.safetensors"
    proc = run(
        "train", "--data", "xor", "--sizes", "2,4,1", "--cost", "quadratic", "--epochs", "400",
        "--batch-size", "4", "--lr", "3", "--quiet", "--save", str(model),
        "--history", str(tmp_path / "h.csv"), "--plot", str(tmp_path / "c.png"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "training accuracy: 100.00%" in proc.stdout
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,train_cost") and len(lines) == 401
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"

    proc = run("check", str(model), "--data", "xor", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] is True

    proc = run("graph", str(model), "--data", "xor", "-o", str(tmp_path / "g.svg"), "--grads")
    assert proc.returncode == 0, proc.stderr
    svg = (tmp_path / "g.svg").read_text()
    assert "W2" in svg and "W3" in svg and "δ" in svg


def test_a_demo_too_short_to_learn_says_why_it_failed(tmp_path: Path) -> None:
    proc = run("demo", "--out", str(tmp_path / "out"), "--epochs", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Result: PASSED" in proc.stdout  # the gradients are proved; the accuracy is short
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"result: FAILED: test accuracy 8\d\.\d\d% is under the 90% a trained network reaches "
                        r"\(after 1 epoch; the default is 30\)", last), last


def test_extensions_in_capitals_choose_the_same_formats(tmp_path: Path) -> None:
    # G.SVG is an SVG and H.CSV a CSV, as render() and load() already read them.
    model = tmp_path / "M.SAFETENSORS"
    proc = run("train", "--data", "xor", "--sizes", "2,3,1", "--epochs", "2", "--quiet",
               "--save", str(model), "--history", str(tmp_path / "H.CSV"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "H.CSV").read_text().startswith("epoch,train_cost,")
    for name, head in (("G.SVG", b"<?xml"), ("G.Html", b"<!DOCTYPE html>"), ("G.GV", b"digraph")):
        proc = run("graph", str(model), "--data", "xor", "-o", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / name).read_bytes().lstrip()[: len(head)] == head, name
    proc = run("graph", "2,3,1", "--data", "xor", "-o", str(tmp_path / "G.JPG"))
    assert proc.returncode == 2 and "chosen by the file's extension; got '.JPG'" in proc.stderr


def test_train_history_json_and_digits_validation(tmp_path: Path) -> None:
    proc = run("train", "--epochs", "2", "--quiet", "--history", str(tmp_path / "h.json"))
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy:" in proc.stdout
    hist = json.loads((tmp_path / "h.json").read_text())
    assert len(hist["val_accuracy"]) == 2 and hist["val_accuracy"][1] > 0.5


def test_check_fails_with_exit_code_1_when_the_routes_disagree(tmp_path: Path) -> None:
    import numpy as np

    import nablagraph as ng

    net = ng.nn.Network([2, 3, 1], cost="quadratic", seed=0)
    net.layers[0].W.data[0, 0] = np.nan  # no route can agree on a NaN gradient
    ng.save(net, tmp_path / "nan.safetensors")
    proc = run("check", str(tmp_path / "nan.safetensors"), "--data", "xor")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED" in proc.stdout


def test_bench_prints_the_table_and_plot(tmp_path: Path) -> None:
    proc = run("bench", "--hidden", "4,8", "--repeats", "1", "--plot", str(tmp_path / "b.png"))
    assert proc.returncode == 0, proc.stderr
    assert "FD / backprop" in proc.stdout and "P" in proc.stdout
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_workloads_writes_table_and_json(tmp_path: Path) -> None:
    proc = run(
        "bench", "--workloads", "W1,W5", "--scale", "0.05", "--repeats", "1",
        "--json", str(tmp_path / "b.json"), "--markdown", str(tmp_path / "b.md"),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "b.json").read_text())
    assert [r["workload"] for r in data["rows"]] == ["W1", "W5"]
    for r in data["rows"]:
        assert r["ratio"]["hand"] == 1.0 and r["ratio"]["eager"] > 0 and r["ratio"]["replay"] > 0
        assert r["ratio_to_gemm"]["gemm"] == 1.0 and r["seconds"]["gemm"] > 0
    assert "numpy" in data["machine"]
    md = (tmp_path / "b.md").read_text()
    assert md.startswith("| workload |") and "| W5 |" in md and "GEMM-only" in md


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--sizes", "10,3", "--epochs", "1"], "input layer has 10 neurons (sizes 10,3) but --data digits has 64 features"),
        (["train", "--sizes", "64,30,3", "--epochs", "1"], "output layer has 3 neurons but the data has 10 classes"),
        (["train", "--sizes", "64,x", "--epochs", "1"], "--sizes must be comma-separated integers"),
        (["train", "--sizes", "64", "--epochs", "1"], "--sizes needs at least two positive layer sizes"),
        (["train", "--activation", "swish", "--epochs", "1"], "unknown activation 'swish'"),
        (["train", "--cost", "hinge", "--epochs", "1"], "unknown cost 'hinge'"),
        (["train", "--lr", "0"], "--lr must be positive, got 0"),
        (["train", "--batch-size", "0"], "--batch-size must be positive, got 0"),
        (["train", "--epochs", "-3"], "--epochs must be positive, got -3"),
        (["train", "--data", "cifar"], "--data must be digits, xor or mnist:PATH, got 'cifar'"),
        (["train", "--data", "mnist:/no/such/dir"], "not a directory"),
        (["check", "missing.safetensors"], "model file missing.safetensors does not exist"),
        (["graph", "2,3,1", "--data", "xor", "-o", "g.bmp"], "bmp"),
        (["graph", "2,3,2", "--data", "xor", "--cost", "quadratic", "-o", "g.svg"], "output layer has 2 neurons but the targets have 1 column"),
        (["demo", "--epochs", "zero"], "--epochs must be an integer, got 'zero'"),
        (["bench", "--workloads", "W9"], "--workloads takes names from W1, W2, W3, W4, W5, got 'W9'"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = run(*args, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}"])
def test_corrupt_model_file_is_refused_cleanly(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content)
    proc = run("check", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert "nablagraph check: error:" in proc.stderr and "Traceback" not in proc.stderr


def test_every_subcommand_has_help() -> None:
    for cmd in ("demo", "train", "check", "graph", "bench"):
        proc = run(cmd, "--help")
        assert proc.returncode == 0 and f"usage: nablagraph {cmd}" in proc.stdout


def test_no_subcommand_prints_help_and_exits_2() -> None:
    proc = run()
    assert proc.returncode == 2 and "demo" in proc.stdout
