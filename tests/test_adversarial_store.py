"""The store under adversity: long readers, clock steps, reboots; and fuzzed specs, names, URLs,
formulas and constraints that must give a clean SpecError or a sound result, nothing else."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import bare_round, round_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from tunebook.core.errors import ScoreError, SpecError
from tunebook.core.score import parse_constraint, parse_formula
from tunebook.core.spec import MAX_ROUND_NAME, MAX_ROUND_TRIALS, parse_round
from tunebook.store import Store
from tunebook.store.connection import parse_store_url
from tunebook.store.schema import info, trials


def _queued(store: Store, n: int = 3) -> int:
    rid = bare_round(store, "r1").id
    store.add_trials(rid, [{"config": {"i": i}, "seed": i} for i in range(n)])
    return rid


def test_a_long_read_never_blocks_a_writer(store: Store) -> None:
    rid = _queued(store)
    writer = Store(store.url)
    done: list[str] = []

    def write() -> None:
        try:
            claimed = writer.claim(rid, "w", 30)
            assert claimed is not None
            trial, token = claimed
            assert writer.heartbeat(trial.id, token, 30)
            writer.log_points([(trial.id, 1, "dev/accuracy", 0.5)])
            writer.add_trials(rid, [{"config": {"i": 9}, "seed": 9}])
            done.append("ok")
        except Exception as exc:  # recorded for the assertion below
            done.append(repr(exc))

    with store.reading() as conn:  # an `analyze` or `report` in the middle of its reads
        before = conn.execute(select(func.count()).select_from(trials)).scalar_one()
        thread = threading.Thread(target=write)
        thread.start()
        thread.join(timeout=45)  # a writer blocked by this reader would wait out its timeout
        assert done == ["ok"]
        # On SQLite the reader still sees its snapshot (WAL): consistent reads, no lock taken.
        # PostgreSQL's read committed gives each statement a fresh snapshot instead.
        if store.dialect == "sqlite":
            assert conn.execute(select(func.count()).select_from(trials)).scalar_one() == before
    assert len(store.trials(rid)) == before + 1
    writer.close()


_LIBFAKETIME = next((p for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                                 "/usr/lib/faketime/libfaketime.so.1") if Path(p).exists()),
                    None)


def _in_stepped_process(offset: str, code: str) -> str:
    """Run ``code`` in a Python whose wall clock is stepped by ``offset`` (libfaketime), its
    monotonic clock left alone: what an NTP step or an admin's `date -s` does to one host."""
    env = {**os.environ, "LD_PRELOAD": str(_LIBFAKETIME), "FAKETIME": offset,
           "DONT_FAKE_MONOTONIC": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@pytest.mark.skipif(_LIBFAKETIME is None, reason="needs libfaketime (apt-get install faketime)")
@pytest.mark.parametrize("who", ["reaper", "holder"])
def test_a_clock_step_in_one_process_never_expires_a_live_lease(tmp_path: Path, who: str) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    rid = _queued(store, 1)
    assert _in_stepped_process("-0d", "import time; print(time.time())")  # libfaketime works
    stepped = _in_stepped_process("+2h", "import time; print(time.time())")
    assert float(stepped) > time.time() + 3600  # the child's wall clock really is ahead
    claim = (f"from tunebook.store import Store; s = Store({url!r}); "
             f"t, tok = s.claim({rid}, 'w', 60); print(t.id)")
    reap = f"from tunebook.store import Store; print(Store({url!r}).reap({rid}))"
    if who == "reaper":  # the holder is us; the reaper's clock jumps two hours ahead
        claimed = store.claim(rid, "w", 60)
        assert claimed is not None
        assert _in_stepped_process("+2h", reap) == "[]"
    else:  # the holder's clock is two hours behind when it claims; we reap
        _in_stepped_process("-2h", claim)
        assert store.reap(rid) == []
    (t,) = store.trials(rid)
    assert t.status == "running" and t.attempts == 1


def test_leases_of_another_boot_are_expired_at_open(store_url: str) -> None:
    store = Store(store_url)
    rid = _queued(store, 1)
    assert store.claim(rid, "w", 3600) is not None
    if store.dialect != "sqlite":
        assert store.reap(rid) == []  # PostgreSQL: the server's clock, nothing to adopt
        return
    with store.engine.begin() as conn:  # as if the store had last been used before a reboot
        conn.execute(update(info).where(info.c.key == "lease_clock").values(value="monotonic:x"))
    again = Store(store_url)
    assert len(again.reap(rid)) == 1
    (t,) = again.trials(rid)
    assert t.status == "queued" and "lease expired" in (t.error or "")


def test_a_lease_further_ahead_than_any_lease_is_a_reset_clock(store: Store) -> None:
    rid = _queued(store, 1)
    claimed = store.claim(rid, "w", 60)
    assert claimed is not None
    with store.engine.begin() as conn:
        conn.execute(update(trials).values(lease_until=store.db_now() + 10 * 86_400))
    assert store.reap(rid) == [claimed[0].id]


# -- fuzzing ---------------------------------------------------------------------------------

_numbers = st.one_of(st.integers(min_value=-(10**40), max_value=10**40),
                     st.floats(allow_nan=True, allow_infinity=True), st.booleans())
_values = st.one_of(_numbers, st.text(max_size=5), st.none(),
                    st.lists(_numbers, max_size=4))
_param = st.dictionaries(
    st.sampled_from(["role", "type", "low", "high", "scale", "choices", "values", "value",
                     "when"]),
    st.one_of(_values, st.sampled_from(["target", "nuisance", "fixed", "float", "int",
                                        "choice", "log", "linear"])),
    max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=st.dictionaries(st.sampled_from(["lr", "wd", "width", "opt"]), _param, max_size=3),
       budget=_values, seed=_values)
def test_fuzzed_round_specs_are_refused_cleanly_or_sound(params: dict[str, Any], budget: Any,
                                                         seed: Any) -> None:
    try:
        spec = parse_round(round_dict(params=params, budget=budget, seed=seed))
    except SpecError as exc:
        assert "\n" not in str(exc)
        return
    assert 1 <= spec.total_trials <= MAX_ROUND_TRIALS and 0 <= spec.seed < 2**32
    space = spec.space
    for group in space.target_groups()[:4]:
        sub = space.for_group(group)
        for u in (0.0, 0.3, 0.999999):
            config = sub.config(group, [u] * sub.dim)
            for v in config.values():
                if isinstance(v, float):
                    assert math.isfinite(v), config


@settings(max_examples=300, deadline=None)
@given(name=st.text(min_size=0, max_size=400))
def test_fuzzed_round_names(name: str) -> None:
    try:
        spec = parse_round(round_dict(name=name))
    except SpecError:
        return
    assert 1 <= len(spec.name) <= MAX_ROUND_NAME
    assert len(spec.name.encode()) <= 255 and "/" not in spec.name and spec.name not in {".", ".."}


_url_part = st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]),
                    max_size=12)


@settings(max_examples=400, deadline=None)
@given(user=_url_part, host=_url_part, port=_url_part, db=_url_part)
def test_fuzzed_store_urls_never_leak_the_password(user: str, host: str, port: str,
                                                   db: str) -> None:
    secret = "Zq9secretXy"
    url = f"postgresql://{user}:{secret}@{host}:{port}/{db}"
    try:
        norm, dialect, parsed = parse_store_url(url)
    except SpecError as exc:
        assert secret not in str(exc)
        return
    assert dialect in {"postgresql"} or "://" in norm
    if parsed.port is not None:
        assert 1 <= parsed.port <= 65535


_formula = st.recursive(
    st.one_of(st.sampled_from(["dev_accuracy", "train_loss"]),
              st.floats(allow_nan=False, allow_infinity=False).map(repr),
              st.integers(min_value=-(10**6), max_value=10**6).map(str)),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda x: f"-{x}")),
    max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(text=_formula, acc=st.floats(allow_nan=False), loss=st.floats(allow_nan=False))
def test_fuzzed_formulas_give_a_float_or_a_score_error(text: str, acc: float,
                                                       loss: float) -> None:
    try:
        formula = parse_formula(text, {"dev/accuracy", "train/loss"})
    except SpecError:
        return
    try:
        value = formula({"dev/accuracy": acc, "train/loss": loss})
    except ScoreError as exc:
        assert text in str(exc)
        return
    assert isinstance(value, float)


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from(["<=", ">=", "<", ">", "=", "=="]),
       number=st.text(alphabet="0123456789.eE+-infa", max_size=8))
def test_fuzzed_constraints(op: str, number: str) -> None:
    try:
        c = parse_constraint(f"dev/latency_ms {op} {number}", {"dev/latency_ms"}, "c")
    except SpecError:
        return
    assert not math.isnan(c.value)
