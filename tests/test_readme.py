"""The README's commands run as written: each `orderopt ...` line of its shell blocks (made small
with the tiny preset and small rounds) and its Python blocks (on the tiny preset) must succeed."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from orderopt.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SMALL_SEARCH = ["--preset", "tiny", "--levels", "2", "--population", "12", "--round-size", "12",
                "--tournament-size", "4", "--learnability", "none", "--verify-random", "1", "--verify-jobs", "1"]
SMALL = {"train": ["--preset", "tiny", "--jobs", "1"], "profile": ["--preset", "tiny"], "search": SMALL_SEARCH,
         "probe": ["--samples", "4000"]}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def shell_commands() -> list[list[str]]:
    out = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("orderopt ") or "&& orderopt " in line:
                out.append(shlex.split(line.split("&& ")[-1])[1:])
    return out


COMMANDS = shell_commands()


def example_files(tmp_path: Path) -> None:
    """The examples a README command names, under tmp_path as a user's checkout has them: the
    scripts, and each data file a ``python examples/<name>.py <file>`` line writes (fewer rows)."""
    import importlib.util
    import shutil

    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("data"))
    for block in blocks("bash"):
        for line in block.splitlines():
            words = shlex.split(line.split("  #")[0])
            if len(words) >= 3 and words[0] == "python" and words[1].startswith("examples/"):
                spec = importlib.util.spec_from_file_location("readme_example", ROOT / words[1])
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                module.write(tmp_path / words[2], rows=3000)


def test_the_readme_is_a_front_door():
    assert len(README.splitlines()) <= 300
    assert 'pip install -e ".[dev]" && pytest' in README  # the test command CI runs
    assert "orderopt search --task square --length 8 --verify" in README  # the main job


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a[:3]) for a in COMMANDS])
def test_readme_shell_command_runs(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    command = argv[0]
    if command == "dashboard":
        pytest.skip("serves until stopped: tests/test_dashboard_browser.py runs it")
    if command in ("report", "worker"):  # they need the study a search of the README makes first
        assert main(["search", "--task", "square", "--length", "8", *SMALL_SEARCH, "--n-trials", "12",
                     "--quiet"]) == 0
    if any("examples/" in word for word in argv):
        example_files(tmp_path)
    extra = SMALL.get(command, []) + (["--quiet"] if command in ("train", "profile", "search") else [])
    if command == "search":
        extra += ["--n-trials", "14"]
    assert main([*argv, *extra]) == 0, capsys.readouterr().err[-2000:]


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = "\n\n".join(blocks("python"))
    code = code.replace('get_preset("cpu")', 'get_preset("tiny")')
    code = code.replace('storage="sqlite:///storage/orderopt.db")',
                        'storage="sqlite:///storage/orderopt.db", preset="tiny", levels=2, population=12, '
                        'round_size=12, tournament_size=4, learnability="none")')
    code = code.replace("n_trials=1000", "n_trials=30")
    namespace = {"qap_cost": lambda order: float(np.dot(order, np.arange(len(order))))}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
