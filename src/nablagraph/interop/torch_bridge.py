"""The PyTorch bridge: :func:`from_torch`, :func:`to_torch` and the state-dict names both ways.

A stack of ``torch.nn.Linear`` layers, each followed by at most one activation, is
the notes' network: ``Linear(n_{l-1}, n_l)`` holds ``w^l`` as ``weight``, shape
``(n_l, n_{l-1})``, and ``b^l`` as ``bias``, shape ``(n_l,)``, exactly as a
:class:`~nablagraph.nn.Dense` holds ``W`` and ``b``, and computes
``z^l = a^{l-1} (w^l)ᵀ + b^l`` with the batch as rows.  So the bridge copies arrays and
renames them; it never transposes or reshapes.

PyTorch is optional: it is imported inside the functions that need it (install
``nablagraph[torch]``).  The name mapping (:func:`torch_names`) needs no PyTorch.

Imports: ``errors``, ``tensor``, ``nn``, ``io``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nablagraph._tensor import no_grad
from nablagraph.errors import ConfigError
from nablagraph.io.format import PathLike
from nablagraph.io.models import _model_metadata
from nablagraph.io.reader import load_file
from nablagraph.io.writer import save_file
from nablagraph.nn import Dense, Module, Network, Sequential
from nablagraph.nn.dense import _check_dtype
from nablagraph.nn.naming import layer_numbers, looks_like_torch

__all__ = [
    "from_torch", "to_torch", "torch_names", "state_dict_from_torch", "state_dict_to_torch",
    "load_torch", "save", "dense_layers", "build_model", "SUPPORTED",
]

#: Our activation names and the ``torch.nn`` modules they are (``identity``: none).
_TORCH_ACTIVATIONS = {
    "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "leaky_relu": "LeakyReLU",
    "softplus": "Softplus", "softmax": "Softmax",
}

#: What :func:`from_torch` reads, for error messages.
SUPPORTED = (
    "Linear (with a bias), Sigmoid, Tanh, ReLU, LeakyReLU (slope 0.01), Softplus (beta 1), "
    "Softmax (last axis), Identity, nested Sequential, and the functions torch.sigmoid, "
    "torch.tanh, torch.relu, F.relu, F.softmax(dim=-1) … in a module's forward"
)


def _torch(where: str) -> Any:
    try:
        import torch
    except ImportError:
        raise ConfigError(f"{where}: PyTorch is not installed; pip install 'nablagraph[torch]'") from None
    return torch


# ------------------------------------------------------------------ nablagraph → names
def dense_layers(model: Module, where: str) -> list[Dense]:
    """The ``Dense`` layers of a ``Network``, a ``Sequential`` of ``Dense`` or one ``Dense``."""
    if isinstance(model, Dense):
        return [model]
    if isinstance(model, Sequential):
        layers = []
        for i, m in enumerate(model.layers):
            if isinstance(m, Sequential):
                layers += dense_layers(m, where)
            elif isinstance(m, Dense):
                layers.append(m)
            else:
                raise ConfigError(
                    f"{where}: layer {i} of the Sequential is a {type(m).__name__}; only Dense "
                    "layers (and nested Sequentials of them) have a PyTorch equivalent"
                )
        return layers
    raise ConfigError(
        f"{where}: expected a Network, a Sequential of Dense layers or a Dense, got "
        f"{type(model).__name__}"
    )


def _check_activation(where: str, layer: Dense, k: int) -> str:
    name = layer.activation_name
    if name != "identity" and name not in _TORCH_ACTIVATIONS:
        raise ConfigError(
            f"{where}: Dense layer {layer.index or k + 2} uses the activation {name!r}, which has "
            f"no torch.nn module here; supported: identity, {', '.join(_TORCH_ACTIVATIONS)}"
        )
    return name


def torch_names(model: Module) -> dict[str, str]:
    """The PyTorch name of each parameter, as :func:`to_torch` lays the model out.

    Each ``Dense`` becomes a ``Linear`` followed by its activation module (none for
    ``identity``), so ``Network([2, 3, 1])`` maps ``W2 → 0.weight``, ``b2 → 0.bias``,
    ``W3 → 2.weight``, ``b3 → 2.bias``.

    Examples
    --------
    >>> import nablagraph as ng
    >>> from nablagraph.interop import torch_names
    >>> torch_names(ng.nn.Network([2, 3, 1], seed=0))
    {'W2': '0.weight', 'b2': '0.bias', 'W3': '2.weight', 'b3': '2.bias'}
    """
    out: dict[str, str] = {}
    i = 0
    names = {id(t): n for n, t in model.named_parameters()}
    for k, layer in enumerate(dense_layers(model, "torch_names")):
        act = _check_activation("torch_names", layer, k)
        out[names[id(layer.W)]] = f"{i}.weight"
        out[names[id(layer.b)]] = f"{i}.bias"
        i += 1 if act == "identity" else 2
    return out


# ------------------------------------------------------------------ nablagraph → torch
def _activation_module(torch: Any, name: str) -> Any:
    if name == "softmax":
        return torch.nn.Softmax(dim=-1)
    return getattr(torch.nn, _TORCH_ACTIVATIONS[name])()


def to_torch(model: Module) -> Any:
    """A ``torch.nn.Sequential`` computing the same function, with copies of the weights.

    Each ``Dense(n_in, n_out, σ)`` becomes ``Linear(n_in, n_out)`` followed by σ's
    module (``Sigmoid``, ``Tanh``, ``ReLU``, ``LeakyReLU``, ``Softplus``,
    ``Softmax(dim=-1)``; nothing for ``identity``), in the model's dtype (``float64``
    stays ``float64``).  The cost is not part of a module: compute it in PyTorch (the
    notes' quadratic cost is ``0.5 * ((a - y) ** 2).sum() / M``, not ``MSELoss``).

    Parameters
    ----------
    model : Network, Sequential of Dense, or Dense

    Returns
    -------
    torch.nn.Sequential
        Its ``state_dict()`` names are :func:`torch_names` of the model.

    Raises
    ------
    ConfigError
        A layer that is not ``Dense``, or an activation PyTorch has no module for (a
        custom function).
    """
    layers = dense_layers(model, "to_torch")
    acts = [_check_activation("to_torch", layer, k) for k, layer in enumerate(layers)]
    torch = _torch("to_torch")  # after the checks: a model PyTorch cannot hold is refused anyway
    mods: list[Any] = []
    for layer, act in zip(layers, acts):
        dt = torch.float64 if layer.W.dtype == np.float64 else torch.float32
        lin = torch.nn.Linear(layer.n_in, layer.n_out, dtype=dt)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(layer.W.data)))
            lin.bias.copy_(torch.from_numpy(np.array(layer.b.data)))
        mods.append(lin)
        if act != "identity":
            mods.append(_activation_module(torch, act))
    return torch.nn.Sequential(*mods)


# ------------------------------------------------------------------ torch → nablagraph
def _activation_of(torch: Any, target: Any, module: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
    """Our name for a traced activation call (``None``: not an activation)."""
    F = torch.nn.functional
    nn = torch.nn
    by_fn = {torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh",
             torch.relu: "relu", F.relu: "relu", F.softplus: "softplus", F.leaky_relu: "leaky_relu",
             torch.softmax: "softmax", F.softmax: "softmax"}
    by_method = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "softmax": "softmax"}
    by_module = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu",
                 nn.Softplus: "softplus", nn.Softmax: "softmax"}
    if module is not None:
        name = by_module.get(type(module))
        if name == "leaky_relu" and module.negative_slope != 0.01:
            return None
        if name == "softplus" and module.beta != 1:
            return None
        if name == "softmax" and module.dim not in (-1, 1):
            return None
        return name
    name = by_fn.get(target) if callable(target) else by_method.get(target)
    if name == "softmax":
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        return name if dim in (-1, 1) else None
    if name in ("leaky_relu", "softplus") and (len(args) > 1 or kwargs):
        return None
    return name


def _describe(node: Any, module: Any) -> str:
    if module is not None:
        return f"{node.target} ({module!r})"
    return f"{getattr(node.target, '__name__', node.target)} ({node.op})"


def _trace(torch: Any, module: Any) -> list[tuple[str, Any]]:
    """The module's forward as a chain of ``("linear", Linear)`` and ``("act", name)`` steps."""
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as exc:
        raise ConfigError(
            f"from_torch: cannot trace {type(module).__name__}.forward ({type(exc).__name__}: {exc}); "
            f"supported: {SUPPORTED}"
        ) from None
    mods = dict(gm.named_modules())
    steps: list[tuple[str, Any]] = []
    prev = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if prev is not None:
                raise ConfigError(f"from_torch: {type(module).__name__}.forward takes more than one input")
            prev = node
            continue
        if node.op == "output":
            break
        if node.op == "get_attr" or not node.args or node.args[0] is not prev:
            raise ConfigError(
                f"from_torch: {type(module).__name__}.forward is not a chain of layers at "
                f"{_describe(node, None)}; supported: {SUPPORTED}"
            )
        sub = mods.get(node.target) if node.op == "call_module" else None
        prev = node
        if isinstance(sub, torch.nn.Linear):
            if sub.bias is None:
                raise ConfigError(
                    f"from_torch: layer {node.target} is Linear(bias=False); a Dense layer always "
                    f"has a bias b^l (supported: {SUPPORTED})"
                )
            steps.append(("linear", sub))
        elif isinstance(sub, torch.nn.Identity):
            continue
        else:
            name = _activation_of(torch, node.target, sub, tuple(node.args), node.kwargs)
            if name is None:
                raise ConfigError(
                    f"from_torch: layer {_describe(node, sub)} is not supported; supported: {SUPPORTED}"
                )
            steps.append(("act", (name, _describe(node, sub))))
    return steps


def _dense_specs(steps: list[tuple[str, Any]]) -> list[tuple[Any, str]]:
    """``(Linear, activation name)`` per weighted layer: each Linear and the activation after it."""
    specs: list[tuple[Any, str]] = []
    for kind, what in steps:
        if kind == "linear":
            specs.append((what, "identity"))
            continue
        name, text = what
        if not specs:
            raise ConfigError(f"from_torch: the activation {text} comes before any Linear layer; "
                              "a Dense layer is a Linear followed by at most one activation")
        if specs[-1][1] != "identity":
            raise ConfigError(f"from_torch: the activation {text} follows another activation; a Dense "
                              "layer is a Linear followed by at most one activation")
        specs[-1] = (specs[-1][0], name)
    if not specs:
        raise ConfigError(f"from_torch: the module has no Linear layer; supported: {SUPPORTED}")
    return specs


def from_torch(module: Any, cost: str | None = None, dtype: Any = None) -> Sequential:
    """The nablagraph model of a PyTorch module made of ``Linear`` layers and activations.

    The module's forward is traced (``torch.fx``), so a ``Sequential`` (nested or not)
    or a custom module whose forward calls its layers one after another both work.
    Each ``Linear`` and the activation after it (if any) become one
    :class:`~nablagraph.nn.Dense`, its weights copied in the module's dtype.

    Parameters
    ----------
    module : torch.nn.Module
    cost : str, optional
        The cost of the returned ``Network``; default ``cross_entropy`` when the output
        is a softmax, else ``quadratic``.
    dtype : numpy dtype, optional
        The model's dtype; default the module's.  ``np.float64`` turns PyTorch's
        float32 default into the precision gradient checks need.

    Returns
    -------
    Network or Sequential
        A :class:`~nablagraph.nn.Network` when it is one in the notes' sense (every
        hidden layer has the same activation), else a ``Sequential`` of ``Dense``.

    Raises
    ------
    ConfigError
        A layer or function that is not supported (named, with the list of what is),
        two activations in a row, ``Linear(bias=False)``, or a forward that is not a
        chain.
    """
    torch = _torch("from_torch")
    if not isinstance(module, torch.nn.Module):
        raise ConfigError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    specs = _dense_specs(_trace(torch, module))
    layers = [(lin.weight.detach().cpu().numpy(), lin.bias.detach().cpu().numpy(), act) for lin, act in specs]
    if dtype is not None:
        dt = _check_dtype("from_torch", dtype)
        layers = [(W.astype(dt), b.astype(dt), act) for W, b, act in layers]
    return build_model(layers, cost)


def build_model(layers: list[tuple[np.ndarray, np.ndarray, str]], cost: str | None = None) -> Sequential:
    """A ``Network`` (or a ``Sequential`` of ``Dense``) from ``(W, b, activation)`` per layer.

    A ``Network`` when every hidden layer has the same activation (the notes' network),
    its cost ``cost`` or, by default, ``cross_entropy`` after a softmax and ``quadratic``
    otherwise; else a ``Sequential``.  The weights are copied, in their dtype.
    """
    dtype = np.float64 if layers[0][0].dtype == np.float64 else np.float32
    hidden = {act for _, _, act in layers[:-1]}
    out_act, n_out = layers[-1][2], layers[-1][0].shape[0]
    model: Sequential
    if len(hidden) <= 1 and not (out_act == "softmax" and n_out < 2):
        sizes = [layers[0][0].shape[1]] + [W.shape[0] for W, _, _ in layers]
        act = hidden.pop() if hidden else out_act
        if cost is None:
            cost = "cross_entropy" if out_act == "softmax" else "quadratic"
        model = Network(sizes, activation=act, output_activation=out_act, cost=cost, seed=0, dtype=dtype)
    else:
        model = Sequential(*[Dense(W.shape[1], W.shape[0], act, rng=0, dtype=dtype) for W, _, act in layers])
    with no_grad():
        for layer, (W, b, _) in zip(dense_layers(model, "build_model"), layers):
            layer.W.copy_(W)
            layer.b.copy_(b)
    return model


# ------------------------------------------------------------------ state dicts and files
def _linear_names(torch: Any, module: Any) -> list[str]:
    """The path of each ``Linear`` of the module, in the order its forward uses them."""
    names = {id(m): n for n, m in module.named_modules()}
    return [names[id(lin)] for kind, lin in _trace(torch, module) if kind == "linear"]


def state_dict_from_torch(module: Any) -> dict[str, np.ndarray]:
    """A PyTorch module's weights under the notes' names: ``{"W2": …, "b2": …, …}``.

    The order of the layers is read from the module's forward, so any names work
    (``fc1``, ``out`` …).  Arrays are copies, in the module's dtype.
    """
    torch = _torch("state_dict_from_torch")
    state = {}
    for k, path in enumerate(_linear_names(torch, module)):
        lin = module.get_submodule(path)
        state[f"W{k + 2}"] = lin.weight.detach().cpu().numpy().copy()
        state[f"b{k + 2}"] = lin.bias.detach().cpu().numpy().copy()
    return state


def state_dict_to_torch(state: Mapping[str, Any], module: Any) -> dict[str, Any]:
    """Arrays named ``W2``, ``b2`` … (or a model) as a state dict for a PyTorch module.

    ``state`` is a model, a dict in the notes' names (``model.state_dict()``,
    :func:`nablagraph.io.load_file`) or already in PyTorch's names.  The ``k``-th
    weighted layer goes to the module's ``k``-th ``Linear`` (in forward order), as
    torch tensors of the module's dtype, ready for ``module.load_state_dict``.
    """
    torch = _torch("state_dict_to_torch")
    if isinstance(state, Module):
        state = state.state_dict()
    names = list(state)
    dtype = next(iter(module.parameters())).dtype
    if looks_like_torch(names):
        return {k: torch.as_tensor(np.asarray(v), dtype=dtype) for k, v in state.items()}
    numbers = layer_numbers(names)
    if numbers is None:
        raise ConfigError(
            f"state_dict_to_torch: the names {', '.join(names[:4])} are neither the notes' "
            "(W2, b2, …) nor PyTorch's (0.weight, 0.bias, …)"
        )
    paths = _linear_names(torch, module)
    if len(paths) != len(numbers):
        raise ConfigError(
            f"state_dict_to_torch: the state has {len(numbers)} weighted layers "
            f"({', '.join(f'W{l}' for l in numbers)}) but the module has {len(paths)} Linear "
            f"layers ({', '.join(paths)})"
        )
    out = {}
    for path, l in zip(paths, numbers):
        for leaf, ours in (("weight", f"W{l}"), ("bias", f"b{l}")):
            if ours in state:
                out[f"{path}.{leaf}"] = torch.as_tensor(np.asarray(state[ours]), dtype=dtype)
    return out


def load_torch(module: Any, path: PathLike) -> None:
    """Load a safetensors file in either naming into a PyTorch module, in place.

    The file is read and validated by :func:`nablagraph.io.load_file` (checksums
    included), renamed by :func:`state_dict_to_torch` and loaded with
    ``module.load_state_dict(strict=True)``.
    """
    module.load_state_dict(state_dict_to_torch(load_file(path), module), strict=True)


def save(model: Module, path: PathLike, naming: str = "torch") -> None:
    """Save a model's weights to a safetensors file in PyTorch's names (or the notes').

    With ``naming="torch"`` the tensors are named as :func:`torch_names` says
    (``0.weight``, …), so ``safetensors.torch.load_file`` and ``load_state_dict`` of the
    module :func:`to_torch` builds read it as it is; the architecture is kept in the
    metadata, so :func:`nablagraph.load` still rebuilds a ``Network`` from it.
    ``naming="notation"`` is :func:`nablagraph.save`.
    """
    if naming not in ("torch", "notation"):
        raise ConfigError(f"save: naming must be 'torch' or 'notation', got {naming!r}")
    if not isinstance(model, Module):
        raise ConfigError(f"save: expected a nablagraph Module, got {type(model).__name__}")
    names = torch_names(model) if naming == "torch" else {n: n for n, _ in model.named_parameters()}
    meta = _model_metadata(model)
    if naming == "torch":
        meta["naming"] = "torch"
    save_file({names[n]: t.data for n, t in model.named_parameters()}, path, meta, checksum=True)
