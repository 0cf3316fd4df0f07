"""Tools above the library: benchmarks (:mod:`nablagraph.tools.bench`) and plots
(:mod:`nablagraph.tools.plot`).

They sit on the top floor, beside the command (``nablagraph.cli``), because they use
the whole library and nothing in it uses them.

Imports: anything in the package but the command.
"""
