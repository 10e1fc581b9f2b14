from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from runbook_support import make_project, with_baseline, with_round

from tunebook.core.errors import NotFoundError
from tunebook.core.spec import load_project
from tunebook.runbook.report import default_path, write_report
from tunebook.store import Store

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture
def proj(tmp_path: Path, store: Store) -> Path:
    folder = make_project(tmp_path / "p")
    with_baseline(folder, store)
    with_round(folder, store)
    return folder


def _write(folder: Path, store: Store, round_name: str | None = None):  # type: ignore[no-untyped-def]
    return write_report(load_project(folder / "tunebook.yaml"), folder, store, round_name)


def test_the_project_report_is_one_self_contained_file(proj: Path, store: Store) -> None:
    res = _write(proj, store)
    assert res.path == str(default_path(proj, None)) and res.kind == "project"
    text = Path(res.path).read_text()
    assert res.bytes == len(text.encode())
    # No network: nothing is loaded from elsewhere.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "<script src" not in text and "<link" not in text
    for section in ("summary", "rounds", "trials", "plots", "diagnosis", "errors",
                    "promotions", "checklist", "next", "decisions"):
        assert f'id="{section}"' in text, section
    assert 'id="trial-table"' in text and text.count('data-trial="') == 6
    assert 'data-item="2.4.better_than_chance" data-status="done"' in text
    assert "Does a wider model help once lr is tuned?" in text
    assert "data:image/png;base64," in text


def test_a_round_report_and_its_bad_input(proj: Path, store: Store, tmp_path: Path) -> None:
    res = _write(proj, store, "width")
    assert res.kind == "round" and Path(res.path).name == "round-width.html"
    assert "round width" in Path(res.path).read_text()
    with pytest.raises(NotFoundError, match="round 'widht' is not in the store.*'width'"):
        _write(proj, store, "widht")


def test_a_report_of_an_empty_store_says_what_to_run_first(tmp_path: Path,
                                                           store: Store) -> None:
    folder = make_project(tmp_path / "empty")
    with pytest.raises(NotFoundError, match="holds no rounds yet.*tunebook baseline"):
        _write(folder, store)
    assert not default_path(folder, None).exists()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _headless(url: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = workdir / f"profile-{len(list(workdir.iterdir()))}"
    profile.mkdir()
    browser = _chromium()
    assert browser is not None
    return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed "
                    "(apt-get install -y chromium)")
def test_the_report_loads_in_a_headless_browser_without_errors(proj: Path, store: Store,
                                                               tmp_path: Path) -> None:
    res = _write(proj, store)
    url = Path(res.path).resolve().as_uri()
    work = tmp_path / "browser"
    work.mkdir()
    dom = _headless(url + "#selftest", work, "--dump-dom", "--virtual-time-budget=5000")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert 'data-ready="1"' in page                   # the script ran to its end
    assert re.search(r'id="js-errors" data-count="0"></div>', page), "script errors recorded"
    ids = [int(x) for x in re.findall(r'data-trial="(\d+)"', page)]
    up, down = re.search(r'data-selftest="(\d+),(\d+)"', page).groups()  # type: ignore[union-attr]
    assert (int(up), int(down)) == (min(ids), max(ids))  # the table sorts both ways
    assert page.count("<tr") > 60 and 'id="checklist"' in page
    assert re.search(r'<img id="plot-axes"[^>]+src="data:image/png;base64,', page)
    # The error box does catch errors: the same page with one broken script reports it.
    broken = tmp_path / "broken.html"
    broken.write_text(Path(res.path).read_text().replace(
        "</body>", "<script>notDefinedAnywhere();</script></body>"))
    bad = _headless(broken.as_uri(), work, "--dump-dom", "--virtual-time-budget=5000")
    assert re.search(r'id="js-errors" data-count="1">[^<]*notDefinedAnywhere', bad.stdout)
    folder = Path(os.environ.get("TUNEBOOK_ARTIFACTS_DIR") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / "report.png"
    done = _headless(url, work, f"--screenshot={shot}", "--window-size=1280,2400",
                     "--hide-scrollbars")
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
