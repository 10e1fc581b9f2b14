"""Analyses of a round: pure functions over store records that return frozen dataclasses.

Each analysis ends in :class:`~tunebook.analysis.findings.Finding` objects: a plain-language
conclusion and the checklist's recommended action. Plots live in :mod:`tunebook.plots` and only
draw these results.
"""

from tunebook.analysis.findings import Finding

__all__ = ["Finding"]
