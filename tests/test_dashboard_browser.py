"""The dashboard as a user sees it: `orderopt dashboard` on a finished tiny study, opened in a real
headless Chromium (Debian's package, driven by Playwright). Screenshots go to test-artifacts/.

Skipped on a machine without Chromium or Playwright; in CI (``$CI`` set) they must be there.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from orderopt.cli import main

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]


def _chromium() -> str | None:
    return os.environ.get("ORDEROPT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    executable = _chromium()
    if sync_playwright is None or executable is None:
        message = "Playwright or Chromium is missing (pip install playwright; apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A finished, verified tiny search served by `orderopt dashboard`; its report as JSON."""
    folder = tmp_path_factory.mktemp("dashboard")
    storage = f"sqlite:///{folder / 'orderopt.db'}"
    argv = ["search", "--task", "square", "--length", "5", "--preset", "tiny", "--levels", "2", "--population", "24",
            "--round-size", "24", "--tournament-size", "4", "--learnability", "none", "--storage", storage,
            "--verify", "--verify-top", "1", "--verify-random", "1", "--verify-jobs", "1", "--quiet", "--json"]
    out = subprocess.run([sys.executable, "-m", "orderopt", *argv], cwd=folder, capture_output=True, text=True,
                         check=True).stdout
    report = json.loads(out)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "orderopt", "dashboard", "--storage", storage, "--port", str(port)],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/studies", timeout=5) as response:
                study_id = json.loads(response.read())["study_summaries"][0]["study_id"]
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else "timeout"
            time.sleep(0.3)
    yield f"{base}/dashboard/studies/{study_id}", report
    proc.terminate()
    proc.wait(timeout=30)


def _open(browser, url: str, wait_for: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.get_by_text(wait_for).first.wait_for(timeout=30_000)
    page.wait_for_load_state("networkidle")
    return page, errors


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_study_page_tells_one_story(browser, served):
    url, report = served
    found = report["best"][0]
    order = ",".join(map(str, found["order"]))
    page, errors = _open(browser, url, "Best Trial")
    page.get_by_text(f"found #1: {order}").first.wait_for(timeout=30_000)  # orderopt's card names found #1
    _shot(page, "study")
    text = page.inner_text("body")
    assert f"Best Trial (number={found['trial']})" in text  # Optuna's best trial is found #1's verdict trial
    assert "order[0]" in text  # the params are the order itself (importance, Best Trial card)
    assert "Verified success: found orders vs baselines" in text
    assert not errors, errors


def test_trials_list_and_trial_page_show_orders(browser, served):
    url, report = served
    page, errors = _open(browser, f"{url}/trials", "Trial 0")
    _shot(page, "trials")
    text = page.inner_text("body")
    assert "order[0]" in text and "order [" in text.replace("order\t[", "order [")  # params and the order attr
    assert "stage" in text and "round" in text
    found = report["best"][0]
    page.goto(f"{url}/trials?numbers={found['trial']}")
    page.get_by_text(f"Trial {found['trial']} (trial_id=").first.wait_for(timeout=30_000)
    _shot(page, "verdict-trial")
    detail = page.inner_text("body")
    assert "verdict" in detail and ("found #1's score" in detail or "just below the study's lowest value" in detail)
    assert not errors, errors


def test_note_page_shows_the_report(browser, served):
    url, report = served
    page, errors = _open(browser, f"{url}/note", "orderopt search")
    _shot(page, "note")
    text = page.inner_text("body")
    assert "One scale" in text and ",".join(map(str, report["best"][0]["order"])) in text
    assert not errors, errors
