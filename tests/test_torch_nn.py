"""PyTorch's nn names: Linear and the activation modules, train()/eval(), gradient
clipping, learning-rate schedules (by hand and in fit) and the seeded mini-batches.

Each is checked against an independent computation: NumPy formulas written out here,
finite differences, or a second route to the same numbers (a manual loop against fit).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nablagraph as ng
from nablagraph.errors import ConfigError, DataError, GraphError, ShapeError
from nablagraph.nn import ACTIVATION_MODULES, ACTIVATION_NAMES


# ------------------------------------------------------------------ Linear, activations
def test_linear_is_dense_without_activation_and_matches_numpy() -> None:
    lin = ng.nn.Linear(3, 2, rng=0, index=2)
    x = np.random.default_rng(1).standard_normal((4, 3))
    np.testing.assert_allclose(lin(x).data, x @ lin.W.data.T + lin.b.data, rtol=0, atol=1e-15)
    assert lin.weight is lin.W and lin.bias is lin.b and lin.weight.shape == (2, 3)
    assert (lin.in_features, lin.out_features) == (3, 2) and repr(lin) == "Linear(l=2, 3 -> 2)"
    assert ng.nn.Dense(3, 2).activation_name == "sigmoid"  # the notes' default is kept
    with pytest.raises(ConfigError, match=r"^Linear: bias=False is not supported"):
        ng.nn.Linear(3, 2, bias=False)


def test_there_is_a_module_for_every_activation_a_layer_can_name() -> None:
    assert set(ACTIVATION_NAMES) <= set(ACTIVATION_MODULES)


@pytest.mark.parametrize("name", sorted(ACTIVATION_MODULES))
def test_each_activation_module_computes_its_function(name: str) -> None:
    z = np.array([[-2.0, -0.3, 0.4, 1.7], [0.9, -1.1, 2.5, 0.0]])
    module = ACTIVATION_MODULES[name]()
    expected = {
        "identity": z, "sigmoid": 1 / (1 + np.exp(-z)), "tanh": np.tanh(z),
        "relu": np.where(z > 0, z, 0.0), "leaky_relu": np.where(z > 0, z, 0.01 * z),
        "softplus": np.log1p(np.exp(z)),
        "softmax": np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
        "log_softmax": z - np.log(np.exp(z).sum(axis=1, keepdims=True)),
    }[name]
    np.testing.assert_allclose(module(ng.tensor(z)).data, expected, rtol=1e-12, atol=1e-12)
    assert not module.parameters()


def test_a_sequential_of_linear_and_sigmoid_is_the_notes_network() -> None:
    net = ng.nn.Network([4, 3, 2], seed=0)
    seq = ng.nn.Sequential(ng.nn.Linear(4, 3), ng.nn.Sigmoid(), ng.nn.Linear(3, 2), ng.nn.Sigmoid())
    seq.load_state_dict(net.state_dict())  # the same names: W2, b2, W3, b3
    X = np.random.default_rng(2).standard_normal((5, 4))
    np.testing.assert_array_equal(seq(X).data, net(X).data)
    Y = np.random.default_rng(3).random((5, 2))
    ng.quadratic_cost(seq(X), Y).backward()
    net.cost(X, Y).backward()
    for (n, a), (_, b) in zip(seq.named_parameters(), net.named_parameters()):
        np.testing.assert_array_equal(a.grad.data, b.grad.data, err_msg=n)


def test_softmax_dim_and_leaky_slope_are_checked() -> None:
    z = ng.tensor([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(ng.nn.Softmax(dim=0)(z).data.sum(axis=0), [1.0, 1.0])
    assert repr(ng.nn.Softmax(0)) == "Softmax(dim=0)"
    with pytest.raises(ConfigError, match=r"^Softmax: dim must be an axis \(an int\), got 'rows'"):
        ng.nn.Softmax("rows")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^LeakyReLU: negative_slope must be a number, got None"):
        ng.nn.LeakyReLU(None)  # type: ignore[arg-type]


def test_train_and_eval_set_the_flag_on_every_module_below() -> None:
    inner = ng.nn.Sequential(ng.nn.Linear(2, 2), ng.nn.ReLU())
    net = ng.nn.Sequential(inner, ng.nn.Linear(2, 1))
    assert all(m.training for m in net.modules()) and len(list(net.modules())) == 5
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ConfigError, match=r"^train: mode must be True or False, got 'no'"):
        net.train("no")  # type: ignore[arg-type]
    assert "training" not in dict(net.named_parameters())


# ------------------------------------------------------------------ clipping
def _with_grads(*grads: list[float]) -> list[ng.Tensor]:
    ps = []
    for g in grads:
        p = ng.tensor(np.zeros(len(g)), requires_grad=True)
        p.grad = ng.tensor(np.array(g))
        ps.append(p)
    return ps


def test_clip_grad_norm_scales_all_gradients_together_and_returns_the_norm() -> None:
    ps = _with_grads([3.0, 0.0], [0.0, 4.0])
    no_grad_param = ng.tensor([1.0], requires_grad=True)
    total = ng.nn.utils.clip_grad_norm_([*ps, no_grad_param], max_norm=1.0)
    assert total.item() == 5.0 and total.ndim == 0
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(np.concatenate([p.grad.data for p in ps]), [3 * scale, 0, 0, 4 * scale], rtol=1e-15)
    ps = _with_grads([0.3, -0.4])
    assert ng.nn.utils.clip_grad_norm_(ps, 10.0).item() == pytest.approx(0.5)
    assert ps[0].grad.tolist() == [0.3, -0.4]  # under the limit: untouched
    ps = _with_grads([1.0, -7.0], [2.0])
    assert ng.nn.utils.clip_grad_norm_(ps, 3.5, norm_type=math.inf).item() == 7.0
    np.testing.assert_allclose(ps[0].grad.data, np.array([1.0, -7.0]) * 3.5 / (7 + 1e-6))


def test_clip_grad_value_clamps_each_entry() -> None:
    net = ng.nn.Linear(2, 1, rng=0)
    (net(np.array([[10.0, -10.0]])) ** 2).sum().backward()
    before = net.W.grad.data.copy()
    ng.nn.utils.clip_grad_value_(net, 0.5)
    np.testing.assert_array_equal(net.W.grad.data, np.clip(before, -0.5, 0.5))


@pytest.mark.parametrize(
    ("call", "cls", "match"),
    [
        (lambda ps: ng.nn.utils.clip_grad_norm_(ps, 0.0), ConfigError, r"^clip_grad_norm_: max_norm must be positive, got 0.0"),
        (lambda ps: ng.nn.utils.clip_grad_norm_(ps, -1), ConfigError, r"^clip_grad_norm_: max_norm must be positive, got -1"),
        (lambda ps: ng.nn.utils.clip_grad_norm_(ps, "1"), ConfigError, r"^clip_grad_norm_: max_norm must be a positive number, got '1'"),
        (lambda ps: ng.nn.utils.clip_grad_value_(ps, float("nan")), ConfigError, r"^clip_grad_value_: clip_value must be positive, got nan"),
        (lambda ps: ng.nn.utils.clip_grad_norm_(5, 1.0), ConfigError, r"^clip_grad_norm_: parameters must be a module, a tensor or an iterable of tensors, got int"),
        (lambda ps: ng.nn.utils.clip_grad_norm_([np.zeros(2)], 1.0), ConfigError, r"^clip_grad_norm_: parameters must be tensors, got ndarray"),
        (lambda ps: ng.nn.utils.clip_grad_norm_(_with_grads([np.nan]), 1.0, error_if_nonfinite=True), GraphError, r"^clip_grad_norm_: the total norm of the gradients is nan"),
    ],
)
def test_clipping_refuses_bad_arguments(call, cls, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(cls, match=match):
        call(_with_grads([1.0]))


# ------------------------------------------------------------------ schedules
def _opt(lr: float = 0.1) -> ng.nn.SGD:
    return ng.nn.SGD([ng.tensor([1.0], requires_grad=True)], lr=lr)


def _lrs(sched: ng.nn.LRScheduler, n: int, metrics: list[float] | None = None) -> list[float]:
    out = []
    for k in range(n):
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[k])  # type: ignore[call-arg]
        out.append(sched.get_last_lr()[0])
    return out


def test_step_and_cosine_schedules_follow_their_closed_forms() -> None:
    assert _lrs(ng.nn.StepLR(_opt(), step_size=3, gamma=0.5), 7) == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025], rel=1e-15)
    got = _lrs(ng.nn.CosineAnnealingLR(_opt(), T_max=4, eta_min=0.01), 4)
    # η_k = 0.01 + 0.09 (1 + cos(πk/4)) / 2, written out: cos(π/4) = √½, cos(π/2) = 0 …
    h = math.sqrt(0.5)
    assert got == pytest.approx([0.01 + 0.045 * (1 + h), 0.055, 0.01 + 0.045 * (1 - h), 0.01], rel=1e-12)


def test_reduce_on_plateau_waits_patience_epochs_then_cools_down() -> None:
    opt = _opt(1.0)
    sched = ng.nn.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    metrics = [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    got = _lrs(sched, len(metrics), metrics)
    # By hand: best 4.0 at epoch 2; epochs 3, 4, 5 do not improve (3 > patience 2): halve
    # at 5, then one cooldown epoch (6) counts nothing; 7, 8, 9 bad: halve at 9.  Epoch 10
    # improves (3.0); 11, 12, 13 bad: 0.25 · 0.5 = 0.125 is below min_lr, so 0.2 at 13.
    assert got == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2]
    sched2 = ng.nn.ReduceLROnPlateau(_opt(1.0), mode="max", factor=0.1, patience=0, min_lr=0.05)
    assert _lrs(sched2, 3, [1.0, 0.5, 0.5]) == pytest.approx([1.0, 0.1, 0.05])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda o: ng.nn.StepLR(o, 0), r"^StepLR: step_size must be an integer > 0, got 0"),
        (lambda o: ng.nn.StepLR(o, 2.5), r"^StepLR: step_size must be an integer > 0, got 2.5"),
        (lambda o: ng.nn.StepLR(o, 2, gamma=-0.1), r"^StepLR: gamma must be a number > 0, got -0.1"),
        (lambda o: ng.nn.CosineAnnealingLR(o, T_max=0), r"^CosineAnnealingLR: T_max must be an integer > 0, got 0"),
        (lambda o: ng.nn.CosineAnnealingLR(o, 5, eta_min=-1), r"^CosineAnnealingLR: eta_min must be a number ≥ 0, got -1"),
        (lambda o: ng.nn.ReduceLROnPlateau(o, factor=1.5), r"^ReduceLROnPlateau: factor must be < 1 \(it divides the learning rate\), got 1.5"),
        (lambda o: ng.nn.ReduceLROnPlateau(o, mode="minimum"), r"^ReduceLROnPlateau: mode must be 'min' or 'max', got 'minimum'"),
        (lambda o: ng.nn.ReduceLROnPlateau(o, patience=-1), r"^ReduceLROnPlateau: patience must be an integer ≥ 0, got -1"),
        (lambda o: ng.nn.StepLR("sgd", 2), r"^StepLR: expected a nablagraph optimizer \(SGD, Adam …\), got str"),
        (lambda o: ng.nn.ReduceLROnPlateau(o).step(), r"^ReduceLROnPlateau.step: pass the metric it watches"),
    ],
)
def test_schedules_refuse_bad_arguments(make, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        make(_opt())


# ------------------------------------------------------------------ mini-batches and fit
def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((10, 3))
    return X, (X[:, :1] > 0).astype(np.float64)


def test_a_manual_loop_with_dataloader_and_steplr_is_fit_with_a_scheduler_bit_for_bit() -> None:
    X, Y = _data()
    manual = ng.nn.Network([3, 4, 1], seed=0)
    opt = ng.nn.SGD(manual, lr=2.0)
    sched = ng.nn.StepLR(opt, step_size=2, gamma=0.5)
    loader = ng.data.DataLoader(X, Y, batch_size=4, seed=3)
    for _ in range(5):
        for xb, yb in loader:
            opt.zero_grad()
            manual.cost(xb, yb).backward()
            opt.step()
        sched.step()
    fitted = ng.nn.Network([3, 4, 1], seed=0)
    h = ng.nn.fit(fitted, X, Y, epochs=5, batch_size=4, lr=2.0, seed=3, verbose=False,
                  scheduler=lambda o: ng.nn.StepLR(o, step_size=2, gamma=0.5))
    assert len(h) == 5
    for (n, a), (_, b) in zip(manual.named_parameters(), fitted.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=n)
    assert opt.lr == 2.0 * 0.5 ** 2


def test_fit_resumed_with_a_schedule_continues_its_learning_rate(tmp_path: Path) -> None:
    X, Y = _data()
    ref = ng.nn.Network([3, 4, 1], seed=0)
    opt_ref = ng.nn.SGD(ref, lr=1.0, flat=True)  # flat, as the optimizer fit makes
    ng.nn.fit(ref, X, Y, 6, 4, optimizer=opt_ref, verbose=False, validation_data=(X[:4], Y[:4]),
              scheduler=ng.nn.ReduceLROnPlateau(opt_ref, mode="max", factor=0.5, patience=0))
    path = tmp_path / "c.safetensors"
    net = ng.nn.Network([3, 4, 1], seed=0)
    ng.nn.fit(net, X, Y, 3, 4, lr=1.0, verbose=False, validation_data=(X[:4], Y[:4]),
              checkpoint_every=3, checkpoint_path=path,
              scheduler=lambda o: ng.nn.ReduceLROnPlateau(o, mode="max", factor=0.5, patience=0))
    again = ng.nn.Network([3, 4, 1], seed=1)
    opt = ng.nn.SGD(again, lr=1.0, flat=True)
    ng.nn.fit(again, X, Y, 6, 4, optimizer=opt, verbose=False, validation_data=(X[:4], Y[:4]),
              resume_from=path, scheduler=ng.nn.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=0))
    # mode="max" on a falling cost: no epoch "improves" after the first, so η halves at
    # every later one: 0.5⁵ after 6 epochs, the 3 resumed ones included.
    assert opt.lr == opt_ref.lr == 0.5 ** 5
    for (n, a), (_, b) in zip(again.named_parameters(), ref.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=n)


def test_fit_refuses_a_schedule_of_another_optimizer() -> None:
    X, Y = _data()
    net = ng.nn.Network([3, 2, 1], seed=0)
    with pytest.raises(ConfigError, match=r"^fit: the scheduler sets the learning rate of another optimizer"):
        ng.nn.fit(net, X, Y, 1, 4, verbose=False, scheduler=ng.nn.StepLR(_opt(), 1))
    with pytest.raises(ConfigError, match=r"^fit: scheduler must be a schedule .* got str"):
        ng.nn.fit(net, X, Y, 1, 4, verbose=False, scheduler="cosine")


def test_dataloader_batches_cover_every_row_once_per_epoch_in_a_new_order() -> None:
    X = np.arange(14.0).reshape(7, 2)
    loader = ng.data.DataLoader(X, np.arange(7), batch_size=3, seed=0)
    orders = []
    for _ in range(2):
        batches = list(loader)
        assert [len(yb) for _, yb in batches] == [3, 3, 1] and len(loader) == 3
        ys = np.concatenate([yb for _, yb in batches])
        assert sorted(ys.tolist()) == list(range(7))
        np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), X[ys])
        orders.append(ys.tolist())
    assert orders[0] != orders[1]
    rng = np.random.default_rng(0)  # the same draws as fit's: one permutation per epoch
    assert orders == [rng.permutation(7).tolist(), rng.permutation(7).tolist()]
    assert [len(xb) for xb in ng.data.batches(X, batch_size=3, drop_last=True)] == [3, 3]
    assert [xb[:, 0].tolist() for xb in ng.data.batches(X, batch_size=4, shuffle=False)] == [
        [0.0, 2.0, 4.0, 6.0], [8.0, 10.0, 12.0]]


@pytest.mark.parametrize(
    ("call", "cls", "match"),
    [
        (lambda: ng.data.DataLoader(np.zeros((3, 2)), np.zeros(4)), ShapeError, r"^DataLoader: X has 3 rows but Y has 4"),
        (lambda: ng.data.DataLoader(np.zeros((3, 2)), batch_size=0), ConfigError, r"^DataLoader: batch_size must be a positive integer, got 0"),
        (lambda: ng.data.DataLoader(np.zeros((3, 2)), seed="a"), ConfigError, r"^DataLoader: seed must be an int or a numpy.random.Generator, got str"),
        (lambda: ng.data.DataLoader(np.zeros((0, 2))), DataError, r"^DataLoader: no batch to give: 0 examples$"),
        (lambda: ng.data.DataLoader(np.zeros((3, 2)), batch_size=4, drop_last=True), DataError, r"^DataLoader: no batch to give: 3 examples and drop_last=True with batch_size=4"),
        (lambda: ng.data.batches(5.0), ShapeError, r"^DataLoader: X must have one example per row, got a 0-d value"),
    ],
)
def test_dataloader_refuses_bad_arguments(call, cls, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(cls, match=match):
        call()


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "min", "factor": 0.5, "patience": 1, "threshold": 0.05, "threshold_mode": "rel", "cooldown": 1, "min_lr": 0.01},
        {"mode": "max", "factor": 0.3, "patience": 0, "threshold": 0.1, "threshold_mode": "abs", "cooldown": 0, "min_lr": 0.0},
        {},
    ],
)
def test_schedules_give_pytorchs_learning_rates(settings: dict[str, object]) -> None:
    torch = pytest.importorskip("torch")
    metrics = np.random.default_rng(4).uniform(0.5, 1.5, 40).cumsum() % 3  # rises and falls
    for make_ours, make_theirs, with_metric in [
        (lambda o: ng.nn.StepLR(o, 3, 0.7), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.7), False),
        (lambda o: ng.nn.CosineAnnealingLR(o, 7, 0.05), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 7, 0.05), False),
        (lambda o: ng.nn.ReduceLROnPlateau(o, **settings),
         lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **settings), True),
    ]:
        ours = make_ours(_opt(0.8))
        topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.8)
        theirs = make_theirs(topt)
        for m in metrics:
            topt.step()  # (PyTorch warns when a schedule steps before its optimizer)
            ours.step(m) if with_metric else ours.step()
            theirs.step(m) if with_metric else theirs.step()
            assert ours.optimizer.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("momentum", "gamma"), [(0.9, 1.0), (0.0, 0.5), (0.9, 0.5)])
def test_a_pytorch_style_training_loop_ends_on_pytorchs_weights(momentum: float, gamma: float) -> None:
    """Linear, Tanh, ReLU, cross_entropy, SGD, clip_grad_norm_, StepLR and the
    DataLoader's batches, in both libraries from the same weights: the same weights after
    3 epochs (float64), and the same clipping norms on the way.

    Except with momentum *and* a changing η: our SGD keeps the book's velocity
    ``v → μv − ηg, w → w + v`` (past steps keep the η they were taken with), PyTorch's is
    ``v → μv + g, w → w − ηv`` (a new η rescales the whole velocity).  Equal while η is
    constant; the table in docs/pytorch-names.md says so, and this checks it is true.
    """
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    ours = ng.nn.Sequential(ng.nn.Linear(4, 5, rng=0), ng.nn.Tanh(), ng.nn.Linear(5, 5, rng=1),
                            ng.nn.ReLU(), ng.nn.Linear(5, 3, rng=2))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 5),
                                 torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
    with torch.no_grad():
        for tp, p in zip(theirs.parameters(), ours.parameters()):
            tp.copy_(torch.from_numpy(p.data))
    opt = ng.nn.SGD(ours, lr=0.3, momentum=momentum)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.3, momentum=momentum)
    sched, tsched = ng.nn.StepLR(opt, 1, gamma), torch.optim.lr_scheduler.StepLR(topt, 1, gamma)
    norms = []
    for _ in range(3):
        for xb, yb in ng.data.DataLoader(X, y, batch_size=8, seed=1):
            opt.zero_grad()
            topt.zero_grad()
            ng.cross_entropy(ours(xb), yb).backward()
            torch.nn.functional.cross_entropy(theirs(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
            norms.append((ng.nn.utils.clip_grad_norm_(ours, 0.5).item(),
                          torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.5).item()))
            opt.step()
            topt.step()
        sched.step()
        tsched.step()
    got = np.concatenate([p.data.ravel() for p in ours.parameters()])
    want = np.concatenate([tp.detach().numpy().ravel() for tp in theirs.parameters()])
    if momentum and gamma != 1.0:
        assert np.abs(got - want).max() > 1e-3  # the documented difference is real
        return
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(*np.array(norms).T, rtol=1e-12)


def test_a_schedules_state_dict_restores_it_on_a_fresh_optimizer() -> None:
    for make, metric in [(lambda o: ng.nn.StepLR(o, 2, 0.5), None),
                         (lambda o: ng.nn.ReduceLROnPlateau(o, factor=0.5, patience=0), 1.0)]:
        a = make(_opt(1.0))
        for _ in range(5):
            a.step() if metric is None else a.step(metric)
        b = make(_opt(1.0))
        b.load_state_dict(a.state_dict())
        assert b.optimizer.lr == a.optimizer.lr < 1.0 and b.last_epoch == 5
        a.step() if metric is None else a.step(metric)
        b.step() if metric is None else b.step(metric)
        assert b.optimizer.lr == a.optimizer.lr


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_dataloader_batches_are_fits_slices_of_one_permutation(
    n: int, batch_size: int, drop_last: bool, shuffle: bool, seed: int
) -> None:
    X = np.arange(2.0 * n).reshape(n, 2)
    if drop_last and n < batch_size:
        with pytest.raises(DataError):
            ng.data.DataLoader(X, np.arange(n), batch_size, shuffle, seed, drop_last)
        return
    loader = ng.data.DataLoader(X, np.arange(n), batch_size, shuffle, seed, drop_last)
    rng = np.random.default_rng(seed)
    for _ in range(2):  # two epochs, each its own permutation
        order = rng.permutation(n) if shuffle else np.arange(n)
        used = (n // batch_size) * batch_size if drop_last else n
        want = [order[s:s + batch_size] for s in range(0, used, batch_size)]
        got = list(loader)
        assert len(got) == len(loader) == len(want)
        for (xb, yb), w in zip(got, want):
            np.testing.assert_array_equal(yb, w)
            np.testing.assert_array_equal(xb, X[w])
