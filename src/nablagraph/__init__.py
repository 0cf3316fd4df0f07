"""nablagraph: reverse-mode autodiff on NumPy with a computation graph you can see,
check and trust, built around the backpropagation equations BP1–BP4.

Everything a user needs is importable from here::

    import nablagraph as ng
    W = ng.Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="W2")
    C = ng.quadratic_cost(ng.sigmoid(ng.linear(X, W, b)), Y)
    C.backward()          # W.grad now holds ∂C/∂W
"""

from nablagraph import _tensor, data, io, nn, reference, viz
from nablagraph import anomaly as _anomaly
from nablagraph import checkpoints as checkpoints  # plugs fit's checkpoint files into nn.train
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
from nablagraph.check import (
    BackpropReport,
    GradcheckReport,
    GradientComparison,
    check_backprop,
    compare_gradients,
    gradcheck,
    numerical_grad,
)
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
from nablagraph.io import load, save
from nablagraph.nn import SGD, Adam, fit
from nablagraph.parallel import get_num_threads, set_num_threads
from nablagraph.replay import CompiledStep, compile_step

# The one hook from the tensor layer up to the layers above it (methods and operators,
# backward, anomaly checks, Jupyter display): see nablagraph._tensor.connect.
_tensor.connect(
    functional=_functional,
    backward=_engine.backward,
    check_forward=_anomaly.check_forward,
    display=viz.tensor_mimebundle,
)

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
