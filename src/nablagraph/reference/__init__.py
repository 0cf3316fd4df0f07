"""The closed-form backpropagation equations BP1–BP4 for dense networks, in NumPy.

This is the notes' algorithm written out by hand, with the notes' (and Nielsen's)
names — ``zs``, ``activations``, ``delta``, ``nabla_b``, ``nabla_w``,
``sigmoid_prime`` — so that it reads line for line like the equations::

    feedforward   z^l = w^l a^{l-1} + b^l,   a^l = σ(z^l)               l = 2 … L
    BP1           δ^L = ∇_a C ⊙ σ'(z^L)
    BP2           δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)                   l = L−1 … 2
    BP3           ∂C/∂b^l = δ^l
    BP4           ∂C/∂w^l = δ^l (a^{l-1})ᵀ

for one example, and, since the costs average over the mini-batch
(``C = (1/M) Σ_m C_m``), ``∇_b C = (1/M) Σ_m δ_m^l`` and
``∇_w C = (1/M) Σ_m δ_m^l (a_m^{l-1})ᵀ``.

Two forms compute the same numbers:

* :func:`backprop_example` — the notes' loop over the mini-batch, one example at a
  time, as column vectors: ``x`` is ``(n_1, 1)``, ``b^l`` is used as ``(n_l, 1)``.
* :func:`backprop_batch` — vectorised over the batch with the examples as rows, as in
  the rest of the library: ``Z^l = A^{l-1} (W^l)ᵀ + b^l`` is ``(M, n_l)``, BP2 reads
  ``Δ^l = (Δ^{l+1} W^{l+1}) ⊙ σ'(Z^l)`` (the transpose of the column form), BP3
  ``∇_b = (1/M) Σ_m Δ^l_m`` and BP4 ``∇_W = (1/M) (Δ^l)ᵀ A^{l-1}``.

Both take plain arrays — ``(W, b)`` per layer with ``W`` of shape ``(n_l, n_{l-1})``
and ``b`` of shape ``(n_l,)``, the activation name of each layer and the cost name —
gathered in a :class:`DenseParams`; :func:`params_from_network` reads them from a
``nablagraph.nn.Network`` (by duck typing, without importing ``nn``).

``δ^L`` for each supported cost / output pairing (``∇_a C_m`` is the gradient of one
example's cost):

============================  =========================================================
quadratic, any elementwise σ  ``δ^L = (a − y) ⊙ σ'(z)``   (``C_m = ½‖a − y‖²``)
mse, any elementwise σ        ``δ^L = (2/n_L)(a − y) ⊙ σ'(z)``   (``C_m = ‖a − y‖²/n_L``)
binary cross-entropy, sigmoid ``δ^L = a − y``   (σ' cancels)
binary cross-entropy, other σ ``δ^L = (a − y)/(a(1 − a)) ⊙ σ'(z)``   (``a`` clipped to
                              ``[ε, 1 − ε]``, ``ε = 1e-12``, as the library's cost does)
cross-entropy, softmax        ``δ^L = a − y``   (``a Σ_j y_j − y`` for unnormalised y)
quadratic / mse / bce,        ``δ^L = a ⊙ (∇_a C − (aᵀ ∇_a C))``, the softmax Jacobian
softmax                       ``(diag(a) − a aᵀ)`` applied to ``∇_a C``
============================  =========================================================

Cross-entropy with any output other than softmax, softmax in a hidden layer (BP2 needs
an elementwise ``σ'``) and activation names not in
:data:`nablagraph.activations.ACTIVATIONS` raise :class:`~nablagraph.errors.ConfigError`.

The equations are methods of :class:`BackpropEquations`, which takes the table of
derivatives ``σ'`` as an argument, so a test can build a deliberately wrong copy (a
wrong ``σ'``, a missing transpose) and check that the three-way comparison in
:mod:`nablagraph.check` catches it.

Three modules, each importing only those above it in this list:

* :mod:`nablagraph.reference.equations` — :class:`BackpropEquations` (BP1–BP4, both
  forms), the derivative table :data:`SIGMA_PRIMES` and the cost ``C``.
* :mod:`nablagraph.reference.params` — what goes in and comes out:
  :class:`DenseParams`, :func:`params_from_network`, :class:`Backprop`.
* :mod:`nablagraph.reference.forms` — :func:`backprop_example` (the notes' loop),
  :func:`backprop_batch` (vectorised), :func:`backprop` and :func:`failed_stage`.

Every name is importable from ``nablagraph.reference`` as before the split.

Imports: NumPy, ``nablagraph.activations``, ``nablagraph.errors`` — never the engine,
``tensor``, ``ops``, ``functional`` or ``nn``: this package's value is that it is an
independent route to the gradients.

Examples
--------
>>> import numpy as np
>>> from nablagraph.reference import DenseParams, backprop
>>> rng = np.random.default_rng(0)
>>> p = DenseParams.from_arrays(
...     [(rng.standard_normal((3, 2)), np.zeros(3)), (rng.standard_normal((1, 3)), np.zeros(1))],
...     ["sigmoid", "sigmoid"], "quadratic")
>>> bp = backprop(p, rng.standard_normal((4, 2)), np.ones((4, 1)))
>>> sorted(bp.gradients())
['W2', 'W3', 'b2', 'b3']
>>> bp.nabla_W[2].shape, bp.deltas[3].shape
((3, 2), (4, 1))
"""

from nablagraph.reference.equations import SIGMA_PRIMES, BackpropEquations
from nablagraph.reference.equations import Array as Array
from nablagraph.reference.equations import Prime as Prime
from nablagraph.reference.forms import backprop, backprop_batch, backprop_example, failed_stage
from nablagraph.reference.params import COSTS, Backprop, DenseParams, params_from_network

__all__ = [
    "COSTS", "SIGMA_PRIMES", "DenseParams", "Backprop", "BackpropEquations",
    "params_from_network", "backprop", "backprop_example", "backprop_batch",
    "failed_stage",
]
