"""PyTorch's parameter names read as the notes' names: ``0.weight`` → ``W2``, ``0.bias`` → ``b2``.

A ``torch.nn.Sequential`` of ``Linear`` layers (and activations, which hold no
parameters) names its state ``0.weight``, ``0.bias``, ``2.weight``, … after the
positions of the ``Linear`` modules; a nested module adds its path
(``layers.0.weight``).  Both sides store the same arrays: ``Linear.weight`` is
``w^l`` of shape ``(n_l, n_{l-1})`` and ``Linear.bias`` is ``b^l`` of shape
``(n_l,)``, so a state maps by name alone, with no transpose or reshape.

The ``k``-th layer prefix in order (numbers compared as numbers, so ``10`` comes after
``2``) is the ``k``-th weighted layer: ``W{l}``, ``b{l}`` with ``l = k + 2`` (or the
model's own layer numbers, in order).  When two prefixes differ by a word rather than
a number (``encoder.weight`` and ``decoder.weight``) the names do not say which layer
comes first and :func:`notation_names` refuses to guess.

Imports: ``errors``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nablagraph.errors import ConfigError

__all__ = ["looks_like_torch", "notation_names", "layer_numbers", "to_notation"]

_SUFFIXES = (".weight", ".bias")
_NOTATION = re.compile(r"^([Wb])(\d+)$")


def looks_like_torch(names: Iterable[str]) -> bool:
    """Whether every name is a PyTorch parameter name ``<path>.weight`` / ``<path>.bias``."""
    seq = list(names)
    return bool(seq) and all(isinstance(n, str) and n.endswith(_SUFFIXES) for n in seq)


def layer_numbers(names: Iterable[str]) -> list[int] | None:
    """The layer numbers ``l`` of names that are all ``W{l}`` / ``b{l}``, in order; else ``None``."""
    numbers: set[int] = set()
    for n in names:
        m = _NOTATION.match(n)
        if m is None:
            return None
        numbers.add(int(m.group(2)))
    return sorted(numbers)


def _key(prefix: str) -> tuple[tuple[int, Any], ...]:
    """Sort key of a module path: numbers as numbers, words as words."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in prefix.split("."))


def _split(name: str) -> tuple[str, str]:
    prefix, _, leaf = name.rpartition(".")
    return prefix, leaf


def _check_order(where: str, prefixes: Sequence[str]) -> None:
    """Refuse prefixes whose order the names alone do not give (they differ by a word)."""
    for a, b in itertools.pairwise(prefixes):
        pa, pb = a.split("."), b.split(".")
        for x, y in zip(pa, pb):
            if x != y:
                if not (x.isdigit() and y.isdigit()):
                    raise ConfigError(
                        f"{where}: the PyTorch names {a!r} and {b!r} do not say which layer comes "
                        f"first (their paths differ by {x!r} vs {y!r}, not by a layer number); "
                        "map them yourself, e.g. with nablagraph.interop.state_dict_from_torch("
                        "module), which reads the order from the module"
                    )
                break


def notation_names(
    names: Iterable[str], where: str, numbers: Sequence[int] | None = None
) -> dict[str, str]:
    """Map PyTorch names (``0.weight``, ``0.bias``, ``2.weight`` …) to ``W2``, ``b2``, ``W3`` ….

    Parameters
    ----------
    names : iterable of str
        PyTorch parameter names, each ``<path>.weight`` or ``<path>.bias``.
    where : str
        The function named in errors (``"load_state_dict"``).
    numbers : sequence of int, optional
        The model's layer numbers ``l`` in order; default ``2, 3, …``.

    Returns
    -------
    dict
        ``{torch name: notation name}``.

    Raises
    ------
    ConfigError
        A name that is not ``<path>.weight`` / ``<path>.bias``, a layer with a bias but
        no weight, prefixes whose order is ambiguous, or more layers than ``numbers``.

    Examples
    --------
    >>> from nablagraph.nn.naming import notation_names
    >>> notation_names(["0.weight", "0.bias", "2.weight", "2.bias"], "example")
    {'0.weight': 'W2', '0.bias': 'b2', '2.weight': 'W3', '2.bias': 'b3'}
    """
    by_prefix: dict[str, set[str]] = {}
    for n in names:
        if not (isinstance(n, str) and n.endswith(_SUFFIXES)):
            raise ConfigError(
                f"{where}: {n!r} is not a PyTorch Linear parameter name (<path>.weight or "
                "<path>.bias); only Linear layers map onto W{l}, b{l}"
            )
        prefix, leaf = _split(n)
        by_prefix.setdefault(prefix, set()).add(leaf)
    prefixes = sorted(by_prefix, key=_key)
    _check_order(where, prefixes)
    for p in prefixes:
        if "weight" not in by_prefix[p]:
            raise ConfigError(f"{where}: {p + '.bias'!r} has no {p + '.weight'!r}; a Linear layer has a weight")
    ls = list(numbers) if numbers is not None else list(range(2, len(prefixes) + 2))
    if len(prefixes) > len(ls):
        raise ConfigError(
            f"{where}: the state holds {len(prefixes)} PyTorch layers "
            f"({', '.join(prefixes)}) but the model has {len(ls)} weighted layers"
        )
    out: dict[str, str] = {}
    for p, l in zip(prefixes, ls):
        for leaf, ours in (("weight", f"W{l}"), ("bias", f"b{l}")):
            if leaf in by_prefix[p]:
                out[f"{p}.{leaf}" if p else leaf] = ours
    return out


def to_notation(state: Mapping[str, Any], params: Iterable[str], where: str) -> tuple[dict[str, Any], str]:
    """``state`` with PyTorch names renamed for a model whose parameters are ``params``.

    Returns the state unchanged (and ``""``) when its names are already the model's or
    are not PyTorch names; else the renamed state and a note of the mapping for error
    messages (``" (PyTorch names mapped: 0.weight→W2, …)"``).
    """
    names = list(state)
    own = list(params)
    if not looks_like_torch(names) or set(names) & set(own):
        return dict(state), ""
    numbers = layer_numbers(own)
    if numbers is None:
        raise ConfigError(
            f"{where}: the state has PyTorch names ({', '.join(names[:4])}{', …' if len(names) > 4 else ''}) "
            f"but the model's parameters are not named W{{l}}, b{{l}} ({', '.join(own[:4])}); "
            "PyTorch names map only onto Dense layers (a Network or a Sequential of Dense)"
        )
    mapping = notation_names(names, where, numbers)
    shown = ", ".join(f"{k}→{v}" for k, v in list(mapping.items())[:6])
    note = f" (PyTorch names mapped: {shown}{', …' if len(mapping) > 6 else ''})"
    return {mapping[k]: v for k, v in state.items()}, note
