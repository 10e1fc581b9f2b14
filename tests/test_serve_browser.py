"""The dashboard in a real headless Chromium (selenium): clean load, live table, trial page.

Set TUNEBOOK_SCREENSHOTS=DIR to keep a screenshot of each page (docs/dashboard-*.png come from
this test).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_project

from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import open_store

selenium = pytest.importorskip("selenium")
pytest.importorskip("uvicorn")
DRIVER = shutil.which("chromedriver")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(DRIVER is None or BROWSER is None,
                                 reason="needs Debian's chromium and chromium-driver")]

ROUND = {"name": "live", "question": "Which lr, watched live?", "budget": 3, "seed": 0,
         "algorithm": "quasi_random",
         "params": {"lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 0.3,
                           "scale": "log"},
                    "sleep": {"role": "fixed", "value": 0.04},
                    "max_train_steps": {"role": "fixed", "value": 20}}}


def _serve(project: Path) -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "tunebook", "serve", "--port", "0",
                             "--project", str(project / "tunebook.yaml")],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert match, line
    try:
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    project = write_project(tmp_path / "proj")
    store = open_store(None, project)
    create_round(store, load_project(project / "tunebook.yaml"), parse_round(ROUND))
    store.close()
    for url in _serve(project):
        yield project, url


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = BROWSER  # type: ignore[assignment]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1800", "--disable-background-networking"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _console_errors(driver: object) -> list[str]:
    logs = driver.get_log("browser")  # type: ignore[attr-defined]
    return [e["message"] for e in logs if e["level"] == "SEVERE"]


def _shot(driver: object, name: str) -> None:
    folder = os.environ.get("TUNEBOOK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"dashboard-{name}.png"))  # type: ignore[attr-defined]


def test_live_round_table_and_trial_page(served: tuple[Path, str], browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    project, url = served
    d = browser
    d.get(url + "/")  # type: ignore[attr-defined]
    assert "Which lr, watched live?" in d.page_source  # type: ignore[attr-defined]
    d.get(url + "/rounds/live")  # type: ignore[attr-defined]
    WebDriverWait(d, 10).until(lambda drv: len(drv.find_elements(
        By.CSS_SELECTOR, "#trials tbody tr")) == 3)
    assert not d.find_elements(By.CSS_SELECTOR, "#trials tr.status-completed")  # type: ignore[attr-defined]

    # Run the round in another process while the page is open; the page must show the first
    # finished trial within 2 seconds of the store recording it.
    worker = subprocess.Popen([sys.executable, "-m", "tunebook", "round", "run", "live",
                               "--workers", "1", "--project", str(project / "tunebook.yaml")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        store = open_store(None, project)
        rid = store.round("live").id
        deadline = time.monotonic() + 120
        while not store.counts(rid).get("completed"):
            assert time.monotonic() < deadline, "no trial finished"
            time.sleep(0.05)
        WebDriverWait(d, 2).until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, "#trials tr.status-completed")))
        worker.wait(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0
    WebDriverWait(d, 10).until(lambda drv: len(drv.find_elements(
        By.CSS_SELECTOR, "#trials tr.status-completed")) == 3)
    WebDriverWait(d, 20).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "#plots img"))
    # Every plot the analysis lists really loads (a PNG the browser could decode).
    WebDriverWait(d, 60).until(lambda drv: drv.execute_script(
        "return Array.from(document.querySelectorAll('#plots img'))"
        ".every(i => i.complete && i.naturalWidth > 0)"))
    _shot(d, "round")
    assert _console_errors(d) == []
    assert d.find_element(By.ID, "js-errors").get_attribute("hidden") is not None  # type: ignore[attr-defined]

    # Sorting by score puts the best first; clicking a trial opens its page with its curve.
    link = d.find_element(By.CSS_SELECTOR, "#trials tbody tr a")  # type: ignore[attr-defined]
    tid = link.text
    link.click()
    WebDriverWait(d, 10).until(ec.url_contains(f"/trials/{tid}"))
    WebDriverWait(d, 10).until(lambda drv: drv.find_elements(
        By.CSS_SELECTOR, "#curves svg.linechart path"))
    assert "dev/accuracy" in d.page_source  # type: ignore[attr-defined]
    _shot(d, "trial")
    d.get(url + "/")  # type: ignore[attr-defined]
    _shot(d, "project")
    assert _console_errors(d) == []
