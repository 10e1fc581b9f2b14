"""A small, fixed-seed slice of the BBOB benchmark: tunebook's default must beat random search.

The full comparison (24 functions, 3 dimensions, 5 instances, 7 methods) lives in
benchmarks/search/bbob.py and docs/benchmarks/search.md; this slice only guards against a
regression that would make the default search no better than random.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("cocoex")
pytest.importorskip("optuna")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "search" / "bbob.py"


def _bbob() -> Any:
    spec = importlib.util.spec_from_file_location("tunebook_bench_bbob", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_default_search_beats_random_on_smooth_functions() -> None:
    b = _bbob()
    # One function per unimodal group (sphere, ellipsoid, Rosenbrock, rotated ellipsoid), 2-D,
    # 10 evaluations per dimension: random search trails by ~2.5 decades at these seeds.
    problems = [b.Problem(f, 2, 1) for f in (1, 2, 8, 10)]
    rows = [b.solve((m, p, 10)) for p in problems for m in ("tunebook", "random")]
    regret = {m: [r["log10_regret"] for r in rows if r["method"] == m]
              for m in ("tunebook", "random")}
    assert all(r["budget"] == 20 for r in rows)
    assert statistics.median(regret["tunebook"]) < statistics.median(regret["random"])


def test_summary_counts_ties_and_ranks() -> None:
    b = _bbob()
    rows = [{"method": m, "problem": "f1_d2_i1", "budget": 40, "function": 1, "dim": 2,
             "log10_regret": v} for m, v in (("tunebook", -8.0), ("random", 1.0))]
    rows += [{"method": m, "problem": "f20_d2_i1", "budget": 40, "function": 20, "dim": 2,
              "log10_regret": v} for m, v in (("tunebook", 0.5), ("random", 0.5))]
    out = b.summarize(rows, methods=("tunebook", "random"))
    assert out["overall"].problems == 2
    assert out["overall"].best == {"tunebook": 1.0, "random": 0.5}  # the tie counts for both
    assert out["overall"].rank == {"tunebook": 1.25, "random": 1.75}
    assert out["separable (f1-f5)"].median == {"tunebook": -8.0, "random": 1.0}
    assert "| overall | 2 |" in b.markdown(out, methods=("tunebook", "random"))
