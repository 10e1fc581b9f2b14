from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")


@pytest.mark.slow
def test_demo_runs_the_digits_project_end_to_end(tmp_path: Path) -> None:
    from tunebook.demo import run_demo

    result = run_demo(tmp_path / "demo", workers=2, show_progress=False)
    assert result["baseline"]["ok"], result["baseline"]["problems"]
    trials = result["trials"]["trials"]
    assert len(trials) == 16 and all(t["status"] == "completed" for t in trials)
    assert result["trials"]["best"]["score"] > 0.9
    assert {tuple(a["group"].items()) for a in result["answer"]} == {(("width", 8),),
                                                                     (("width", 32),)}
    assert (tmp_path / "demo" / ".tunebook" / "store.db").exists()
    assert any((tmp_path / "demo" / ".tunebook" / "artifacts").rglob("*.pt"))
