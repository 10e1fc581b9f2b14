"""A finding: one plain-language conclusion of an analysis, with the checklist's action.

Every analysis ends in findings. A finding names what was seen (``message``), what the checklist
recommends doing about it (``action``) and the numbers behind it (``evidence``: trial ids, steps,
values), so a person, the HTML report and an agent read the same conclusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["info", "warning", "problem"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "problem")


@dataclass(frozen=True)
class Finding:
    """One conclusion of an analysis.

    >>> f = Finding("boundary", "warning", "The best lr sit at the top of its range.",
    ...             "Expand the range of lr upwards to 0.3 and run the round again.",
    ...             {"param": "lr", "trials": [4, 9]})
    >>> f.code, f.severity
    ('boundary', 'warning')
    """

    code: str
    severity: Severity
    message: str
    action: str
    evidence: dict[str, Any]

    def _repr_html_(self) -> str:
        from tunebook.core.html import table_html

        return table_html(["code", "severity", "message", "action"],
                          [[self.code, self.severity, self.message, self.action]])


def by_severity(findings: list[Finding]) -> list[Finding]:
    """Findings ordered problem, warning, info (stable within each level).

    >>> [f.severity for f in by_severity([Finding("a", "info", "", "", {}),
    ...                                   Finding("b", "problem", "", "", {})])]
    ['problem', 'info']
    """
    rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    return sorted(findings, key=lambda f: rank[f.severity])
