"""The docs site builds with `mkdocs build --strict` (broken links, missing pages and docstring
warnings fail it), and its CLI reference is the parser's own help."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    if shutil.which("mkdocs") is None and subprocess.run([sys.executable, "-m", "mkdocs", "--version"],
                                                         capture_output=True).returncode != 0:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cli = (ROOT / "docs" / "reference" / "cli.md").read_text()
    assert "## orderopt search" in cli and "--learnability" in cli  # generated from the parser
    assert (tmp_path / "site" / "reference" / "api" / "index.html").exists()
