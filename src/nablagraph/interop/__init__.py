"""Moving models between nablagraph, PyTorch and ONNX runtimes.

* :mod:`~nablagraph.interop.torch_bridge` — :func:`from_torch` (a ``torch.nn``
  module of ``Linear`` layers and activations → a :class:`~nablagraph.nn.Network` or
  ``Sequential``), :func:`to_torch` (back to a ``torch.nn.Sequential``), the
  parameter names both ways (``W2`` ↔ ``0.weight``: :func:`torch_names`,
  :func:`state_dict_from_torch`, :func:`state_dict_to_torch`) and safetensors files in
  either naming (:func:`save`, :func:`load_torch`; :func:`nablagraph.io.load_into` and
  ``Module.load_state_dict`` read PyTorch's names too).
* :mod:`~nablagraph.interop.onnx_export` — :func:`to_onnx`: a model or any recorded
  graph, gradients included, as an ONNX model; the op table is
  :mod:`~nablagraph.interop.onnx_ops`.
* :mod:`~nablagraph.interop.onnx_import` — :func:`from_onnx`: a chain of dense layers
  in ONNX (such as ``to_onnx`` writes for a model) back to a ``Network``.

PyTorch (``nablagraph[torch]``) and ONNX (``nablagraph[onnx]``) are optional: they are
imported only inside the functions that use them.

Imports: ``errors``, ``files``, ``tensor``, ``ops``, ``engine``, ``nn``, ``io``, ``viz``,
``_version``, ``interop``.
"""

from nablagraph.interop.onnx_export import OPSET, to_onnx
from nablagraph.interop.onnx_import import from_onnx
from nablagraph.interop.onnx_ops import EMITTERS
from nablagraph.interop.torch_bridge import (
    SUPPORTED,
    from_torch,
    load_torch,
    save,
    state_dict_from_torch,
    state_dict_to_torch,
    to_torch,
    torch_names,
)

__all__ = [
    "from_torch", "to_torch", "torch_names", "state_dict_from_torch", "state_dict_to_torch",
    "load_torch", "save", "to_onnx", "from_onnx", "OPSET", "EMITTERS", "SUPPORTED",
]
