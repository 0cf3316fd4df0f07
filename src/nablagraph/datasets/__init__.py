"""Data files that ship inside nablagraph, so the main job runs from a plain install.

``digits.npz``: the 1,797 8×8 handwritten digits read by :func:`nablagraph.data.digits`,
as two uint8 arrays, ``images`` of shape ``(1797, 8, 8)`` with pixel values 0–16 and
``target`` of shape ``(1797,)`` with labels 0–9, in scikit-learn's order.

Attribution: the data is the test set of the UCI "Optical Recognition of Handwritten
Digits" data set (E. Alpaydin and C. Kaynak, 1998,
https://doi.org/10.24432/C50P49), licensed CC BY 4.0, as distributed by scikit-learn
(``sklearn/datasets/data/digits.csv.gz``, BSD-3-Clause).  The file is made from
scikit-learn's copy, unchanged except for the storage format, by::

    python -m nablagraph.datasets.make_digits [PATH/TO/digits.csv.gz]

and a test checks that it equals ``sklearn.datasets.load_digits()`` exactly.

Imports: nothing from nablagraph.
"""
