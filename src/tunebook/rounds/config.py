"""A round's resolved specs and the config every one of its trials starts from.

Its own module because both the lifecycle (fill) and fidelity (stage checks) need them, and
fidelity sits below the lifecycle: the lifecycle imports fidelity, never the other way round.
"""

from __future__ import annotations

from typing import Any

from tunebook.core.spec import ProjectSpec, RoundSpec, parse_project, parse_round
from tunebook.core.trial import RoundRecord


def specs(record: RoundRecord) -> tuple[ProjectSpec, RoundSpec]:
    """The project and round specs stored with ``record`` (validated again on read)."""
    return (parse_project(record.project, f"round {record.name} project"),
            parse_round(record.spec, f"round {record.name}"))


def base_config(project: ProjectSpec, spec: RoundSpec) -> dict[str, Any]:
    """The project's baseline config with the round's ``max_train_steps``, if it sets one."""
    config = dict(project.baseline.config)
    if spec.max_train_steps is not None:
        config["max_train_steps"] = spec.max_train_steps
    return config
