"""A command pipeline: the project's own script, run once per trial with its config rendered in.

``pipeline: {command: "python train.py --lr {lr} --epochs {epochs}"}`` in ``tunebook.yaml``.
The command is split like a shell would (``shlex``) but never run by one: each placeholder is
replaced inside its own argument, so a value can never become a second argument, a pipe or a
redirection. This module only parses and renders (no I/O); ``tunebook.workers.command`` runs it.
"""

from __future__ import annotations

import json
import shlex
import string
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tunebook.core.errors import SpecError

# Names a command may use besides the trial's config keys.
SPECIAL = {
    "config_file": "path of the trial's config rendered to a YAML/JSON file",
    "trial_id": "the trial's id",
    "seed": "the trial's seed",
    "run_dir": "a scratch folder for this trial attempt (files the script writes)",
}


class CommandPipeline(BaseModel):
    """``pipeline:`` as a command instead of a ``module:function``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | list[str] = Field(
        description="the command line ('python train.py --lr {lr}') or its arguments as a list")
    config_file: Literal["yaml", "json"] | None = Field(
        None, description="render the config to a file; its path is {config_file} and "
                          "$TUNEBOOK_CONFIG_FILE (Hydra-style scripts)")
    env: dict[str, str] = Field(default_factory=dict,
                                description="extra environment variables (placeholders allowed)")
    grace_s: float = Field(10.0, ge=0, description="seconds between SIGTERM and SIGKILL")

    @field_validator("command")
    @classmethod
    def _command(cls, v: str | list[str]) -> str | list[str]:
        args = split_command(v)
        if not args:
            raise SpecError("command", "a program and its arguments", v)
        for a in args:
            placeholders(a)  # raises on a malformed or unsafe placeholder
        return v

    @model_validator(mode="after")
    def _file(self) -> CommandPipeline:
        if "config_file" in self.fields() and self.config_file is None:
            # {config_file} without a format: YAML, what Hydra and most scripts read
            object.__setattr__(self, "config_file", "yaml")
        return self

    @property
    def args(self) -> list[str]:
        return split_command(self.command)

    def fields(self) -> set[str]:
        """Every placeholder name used in the command and the environment."""
        out: set[str] = set()
        for a in [*self.args, *self.env.values()]:
            out |= {name for name, _ in placeholders(a)}
        return out

    def check_keys(self, config_keys: set[str], where: str = "pipeline.command") -> None:
        """Every placeholder names a config key or a special name."""
        unknown = sorted(self.fields() - set(config_keys) - set(SPECIAL))
        if unknown:
            known = sorted(set(config_keys) | set(SPECIAL))
            raise SpecError(where, f"placeholders among {known}", "{" + unknown[0] + "}",
                            "Each {name} must be a key of the trial's config (the baseline "
                            "config and the round's hyperparameters).")

    def render(self, config: Mapping[str, Any], special: Mapping[str, Any]) -> list[str]:
        """The argument list with every placeholder replaced by its value."""
        values = {**config, **special}
        return [render_arg(a, values) for a in self.args]

    def render_env(self, config: Mapping[str, Any], special: Mapping[str, Any]) -> dict[str, str]:
        values = {**config, **special}
        return {k: render_arg(v, values) for k, v in self.env.items()}

    def __str__(self) -> str:
        return self.command if isinstance(self.command, str) else shlex.join(self.command)


def split_command(command: str | list[str]) -> list[str]:
    if isinstance(command, list):
        return [str(a) for a in command]
    try:
        return shlex.split(command)
    except ValueError as exc:  # an unclosed quote
        raise SpecError("command", "a command line shlex can split", command, str(exc)) from None


def placeholders(arg: str) -> list[tuple[str, str]]:
    """``(name, format_spec)`` of each ``{name}`` / ``{name:spec}`` in one argument."""
    out = []
    try:
        parsed = list(string.Formatter().parse(arg))
    except ValueError as exc:
        raise SpecError("command", "balanced {placeholders} ({{ and }} for literal braces)",
                        arg, str(exc)) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or conversion:
            raise SpecError("command", "placeholders of the form {name} or {name:format}",
                            arg, "Attribute, index and !conversion forms are not allowed.")
        out.append((name, spec or ""))
    return out


def render_value(value: Any, spec: str = "") -> str:
    """One value as command-line text: what argparse's int/float/str read back unchanged."""
    if spec:
        return format(value, spec)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back to the same float
    if isinstance(value, int) or value is None:
        return json.dumps(value)
    return json.dumps(value, sort_keys=True)  # lists and mappings: JSON


def render_arg(arg: str, values: Mapping[str, Any]) -> str:
    out = []
    for literal, name, spec, _ in string.Formatter().parse(arg):
        out.append(literal)
        if name is None:
            continue
        if name not in values:
            raise SpecError("pipeline.command", f"a value for {{{name}}} in the trial's config",
                            "nothing", f"Config keys: {sorted(values)}.")
        out.append(render_value(values[name], spec or ""))
    return "".join(out)
