"""nablagraph: reverse-mode autodiff on NumPy with a computation graph you can see,
check and trust, built around the backpropagation equations BP1–BP4.

Everything a user needs is importable from here::

    import nablagraph as ng
    W = ng.Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="W2")
    C = ng.quadratic_cost(ng.sigmoid(ng.linear(X, W, b)), Y)
    C.backward()          # W.grad now holds ∂C/∂W

``import nablagraph`` loads the tensor, the ops, the engine, the replay and ``nn``;
drawing (``ng.viz``), checking (``ng.check``, ``ng.gradcheck`` …), files and data
(``ng.io``, ``ng.save``, ``ng.data`` …) load on first use, see ``_LAZY`` below.
"""

import importlib as _importlib
import typing as _typing
from types import ModuleType as _ModuleType

from nablagraph import _tensor, nn
from nablagraph import anomaly as _anomaly
from nablagraph import engine as _engine
from nablagraph import factories as _factories
from nablagraph import functional as _functional
from nablagraph import tensor as _old_tensor_module  # noqa: F401  (see `tensor = ` below)
from nablagraph._tensor import (
    RemovableHandle,
    Tensor,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from nablagraph._version import __version__ as __version__
from nablagraph.activations import (
    identity_prime,
    leaky_relu_prime,
    relu_prime,
    sigmoid_prime,
    softplus_prime,
    tanh_prime,
)
from nablagraph.anomaly import detect_anomaly, is_anomaly_enabled
from nablagraph.diagnostics import Diagnostics, diagnostics
from nablagraph.engine import grad
from nablagraph.errors import (
    AnomalyError,
    ConfigError,
    DataError,
    DTypeError,
    FileFormatError,
    GradcheckError,
    GraphError,
    LabelError,
    NablaGraphError,
    RendererError,
    ResourceError,
    ShapeError,
)
from nablagraph.factories import (
    arange,
    bool_,
    eye,
    float16,
    float32,
    float64,
    full,
    full_like,
    int32,
    int64,
    ones,
    ones_like,
    randn,
    zeros,
    zeros_like,
)
from nablagraph.functional import (
    abs,
    add,
    argmax,
    argmin,
    astype,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    broadcast_to,
    cat,
    clip,
    concatenate,
    cross_entropy,
    div,
    exp,
    identity,
    leaky_relu,
    linear,
    log,
    log_softmax,
    matmul,
    max,
    maximum,
    mean,
    min,
    mse_loss,
    mul,
    neg,
    pow,
    quadratic_cost,
    relu,
    reshape,
    sigmoid,
    softmax,
    softplus,
    sqrt,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    where,
)
from nablagraph.nn import SGD, Adam, fit
from nablagraph.parallel import get_num_threads, set_num_threads
from nablagraph.replay import CompiledStep, compile_step

if _typing.TYPE_CHECKING:  # what __getattr__ below loads on first use, for mypy and IDEs
    from nablagraph import check as check
    from nablagraph import checkpoints as checkpoints
    from nablagraph import data as data
    from nablagraph import files as files
    from nablagraph import io as io
    from nablagraph import loader as loader
    from nablagraph import reference as reference
    from nablagraph import viz as viz
    from nablagraph.check import (
        BackpropReport,
        GradcheckReport,
        GradientComparison,
        check_backprop,
        compare_gradients,
        numerical_grad,
    )
    from nablagraph.check.gradcheck import gradcheck  # the function (mypy: not the submodule)
    from nablagraph.io import load, save

#: What ``import nablagraph`` leaves for later (PEP 562): each name, with the submodule
#: that defines it ("" for a submodule itself), is imported on its first use — ``ng.viz``,
#: ``from nablagraph import gradcheck``, ``import nablagraph.io`` — and is then an
#: ordinary attribute.  Drawing (Graphviz), checking, files and data formats cost
#: start-up time that training alone does not need.
_LAZY = {
    "check": "", "checkpoints": "", "data": "", "files": "", "io": "", "loader": "",
    "reference": "", "viz": "",
    "BackpropReport": "check", "GradcheckReport": "check", "GradientComparison": "check",
    "check_backprop": "check", "compare_gradients": "check", "gradcheck": "check",
    "numerical_grad": "check",
    "load": "io", "save": "io",
}


def _load(module: str) -> _ModuleType:
    return _importlib.import_module(f"nablagraph.{module}")


def __getattr__(name: str) -> _typing.Any:
    """Import a name of ``_LAZY`` on its first use and keep it as a module attribute."""
    try:
        where = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = _load(name) if not where else getattr(_load(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _tensor_mimebundle(t: Tensor, include: _typing.Any = None, exclude: _typing.Any = None) -> dict[str, _typing.Any]:
    """Jupyter's display of a tensor: :func:`nablagraph.viz.tensor_mimebundle`, loaded on first use."""
    return dict(_load("viz").tensor_mimebundle(t, include, exclude))


class _CheckpointsOnFirstUse:
    """fit's checkpoint store until :mod:`nablagraph.checkpoints` is loaded.

    The first checkpoint ``fit`` checks, writes or reads loads that module, which plugs
    in its own store (:func:`nablagraph.nn.train.use_checkpoint_store`) for every later
    call; this call is passed on to it.
    """

    def save(self, *args: _typing.Any, **kwargs: _typing.Any) -> None:
        _load("checkpoints").SafetensorsCheckpoints.save(*args, **kwargs)

    def resume(self, *args: _typing.Any, **kwargs: _typing.Any) -> int:
        return int(_load("checkpoints").SafetensorsCheckpoints.resume(*args, **kwargs))

    def check_target(self, *args: _typing.Any, **kwargs: _typing.Any) -> None:
        _load("checkpoints").SafetensorsCheckpoints.check_target(*args, **kwargs)


# The one hook from the tensor layer up to the layers above it (methods and operators,
# backward, anomaly checks, Jupyter display): see nablagraph._tensor.connect.
_tensor.connect(
    functional=_functional,
    backward=_engine.backward,
    check_forward=_anomaly.check_forward,
    display=_tensor_mimebundle,
)
nn.train.use_checkpoint_store(_CheckpointsOnFirstUse(), default=True)  # until nablagraph.checkpoints plugs in its own

# ng.tensor([1.0]) is the factory, as torch.tensor.  The module that held Tensor moved
# to nablagraph._tensor (as PyTorch's did to torch._tensor); nablagraph.tensor remains a
# module for old imports and pickles (`from nablagraph.tensor import Tensor`), and was
# imported above so that importing it later cannot rebind this attribute to the module.
tensor = _factories.tensor


__all__ = [
    "get_num_threads", "set_num_threads",
    "Tensor", "grad", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "RemovableHandle",
    "gradcheck", "numerical_grad", "GradcheckReport",
    "check_backprop", "BackpropReport",
    "compare_gradients", "GradientComparison", "diagnostics", "Diagnostics", "reference",
    "NablaGraphError", "ShapeError", "DTypeError", "GraphError", "LabelError", "GradcheckError",
    "ConfigError", "AnomalyError", "RendererError", "nn", "viz", "data", "io", "save", "load", "fit", "SGD", "Adam",
    "DataError", "FileFormatError", "ResourceError", "detect_anomaly", "is_anomaly_enabled",
    "compile_step", "CompiledStep",
    "add", "sub", "mul", "div", "pow", "neg", "matmul", "linear",
    "exp", "log", "sqrt", "abs", "maximum", "clip", "where", "concatenate",
    "sum", "mean", "reshape", "transpose", "broadcast_to",
    "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "softmax", "log_softmax", "identity",
    "sigmoid_prime", "tanh_prime", "relu_prime", "leaky_relu_prime", "softplus_prime", "identity_prime",
    "quadratic_cost", "mse_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "cross_entropy",
    "tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "randn", "arange",
    "eye", "float16", "float32", "float64", "int32", "int64", "bool_",
    "stack", "cat", "astype", "max", "min", "argmax", "argmin",
    "__version__",
]
