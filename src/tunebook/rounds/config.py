"""The config every trial of a round starts from.

Its own module because both the lifecycle (fill) and fidelity (stage checks) need it, and
fidelity sits below the lifecycle: the lifecycle imports fidelity, never the other way round.
"""

from __future__ import annotations

from typing import Any

from tunebook.core.spec import ProjectSpec, RoundSpec


def base_config(project: ProjectSpec, spec: RoundSpec) -> dict[str, Any]:
    """The project's baseline config with the round's ``max_train_steps``, if it sets one."""
    config = dict(project.baseline.config)
    if spec.max_train_steps is not None:
        config["max_train_steps"] = spec.max_train_steps
    return config
