"""Exception hierarchy of nablagraph.

Every error the library raises on bad input is one of these classes, so users can
catch them precisely.  Each also subclasses the built-in exception that fits
(``ShapeError`` is a ``ValueError``, ``GraphError`` a ``RuntimeError``), so code
written against the built-ins keeps working.

Messages name the op, what it received (shapes, dtypes, values) and what it
expected, and where there is an obvious fix they say it.

This module imports nothing from the package.
"""

from __future__ import annotations

__all__ = [
    "NablaGraphError",
    "ShapeError",
    "DTypeError",
    "GraphError",
    "LabelError",
    "GradcheckError",
    "ConfigError",
    "AnomalyError",
    "RendererError",
    "DataError",
    "FileFormatError",
    "ResourceError",
]


class NablaGraphError(Exception):
    """Base class of every error raised by nablagraph."""


class ShapeError(NablaGraphError, ValueError):
    """Operands whose shapes do not fit the op (misaligned matmul, no broadcast)."""


class DTypeError(NablaGraphError, TypeError):
    """A dtype the op cannot take (e.g. ``requires_grad`` on integer data)."""


class GraphError(NablaGraphError, RuntimeError):
    """Misuse of the recorded graph: a freed graph, a non-scalar root, a bad gradient."""


class LabelError(NablaGraphError, ValueError):
    """Targets a cost cannot use: NaN, out-of-range class indices, wrong encoding."""


class GradcheckError(NablaGraphError, RuntimeError):
    """Analytical and numerical derivatives disagree (or cannot be compared)."""


class ConfigError(NablaGraphError, ValueError):
    """A bad setting: unknown activation or cost name, sizes that cannot chain, lr <= 0."""


class AnomalyError(NablaGraphError, FloatingPointError):
    """A NaN or infinity appeared in a forward or backward pass under ``detect_anomaly()``."""


class RendererError(NablaGraphError, RuntimeError):
    """No Graphviz program can write the requested format, or the program failed."""


class DataError(NablaGraphError, ValueError):
    """Input data a model cannot use: NaN or infinite values, no examples, mixed row counts."""


class FileFormatError(NablaGraphError, ValueError):
    """A file that is not, or is no longer, what it claims: truncated, corrupt, edited."""


class ResourceError(NablaGraphError, MemoryError):
    """A model or array that would need more memory than the machine has available.

    Raised *before* allocating (see ``nablagraph._memory``), with the bytes needed and
    the bytes available, instead of a bare ``MemoryError`` or the operating system
    killing the process.
    """
