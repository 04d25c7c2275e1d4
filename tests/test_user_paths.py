"""Every command on every kind of task source, end to end through the CLI (tiny preset): a
built-in task, a scrambled one, a generator named by import path, an .npz, a .jsonl and a .csv file.
Each command exits 0 and its ``--json`` document parses; a bad source is one line, exit 2, and
leaves no study behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import optuna
import pytest

from orderopt.cli import main
from tests.user_task import generate

SMALL_SEARCH = ["--preset", "tiny", "--levels", "2", "--population", "12", "--round-size", "12",
                "--tournament-size", "4", "--model-proposals", "4", "--quiet"]
SOURCES = ["builtin", "scramble", "callable", "file", "npz", "jsonl", "csv"]


def write_files(folder) -> None:
    x, y = generate(2_600, np.random.default_rng(0))
    np.savez(folder / "user.npz", x=x, y=y, order_friendly=np.array(generate.orders["friendly"]))
    with open(folder / "user.jsonl", "w") as f:
        f.write(json.dumps({"orders": generate.orders}) + "\n")
        for xi, yi in zip(x.tolist(), y.tolist()):
            f.write(json.dumps({"input": xi, "target": yi}) + "\n")
    header = ",".join([*(f"x{i}" for i in range(x.shape[1])), *(f"y{i}" for i in range(y.shape[1]))])
    np.savetxt(folder / "user.csv", np.hstack([x, y]), fmt="%d", delimiter=",", header=header, comments="")
    (folder / "bad.npz").write_bytes(b"not a zip file")
    (folder / "bad.jsonl").write_text('{"input": [1, 2], "target": [3]}\n{"input": [1], "target": "x"}\n')
    (folder / "bad.csv").write_text("x0,x1,y0\n1,2,3\n4,five,6\n")


def task_args(source: str, folder) -> list[str]:
    return {"builtin": ["--task", "square", "--length", "5"],
            "scramble": ["--task", "square", "--length", "5", "--scramble", "2"],
            "callable": ["--task", "tests.user_task:generate"],
            "file": ["--task", f"{Path(__file__).parent / 'user_task.py'}:generate"],
            "npz": ["--task", str(folder / "user.npz")],
            "jsonl": ["--task", str(folder / "user.jsonl")],
            "csv": ["--task", str(folder / "user.csv")]}[source]


def bad_task_args(source: str, folder) -> tuple[list[str], str]:
    return {"builtin": (["--task", "square", "--length", "1"], "needs length >= 2"),
            "scramble": (["--task", "squarre", "--scramble", "2"], "unknown task 'squarre'"),
            "callable": (["--task", "tests.user_task:broken"], "raised ValueError: no data today"),
            "file": (["--task", f"{folder / 'no_such_file.py'}:generate"], "no such file"),
            "npz": (["--task", str(folder / "bad.npz")], "not an .npz archive"),
            "jsonl": (["--task", str(folder / "bad.jsonl")], "line 2: field 'input' has length 1"),
            "csv": (["--task", str(folder / "bad.csv")], "line 3, column x1: 'five' is not a number")}[source]


def run_json(capsys, argv: list[str]) -> dict:
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    return json.loads(out.out)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("user-paths")
    write_files(path)
    return path


@pytest.mark.parametrize("source", SOURCES)
def test_every_command_runs_on_every_task_source(source, folder, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    task = task_args(source, folder)
    named = "forward" if source in ("builtin", "csv") else "friendly"  # a CSV names no orders of its own
    jobs = "2" if source in ("file", "scramble") else "1"  # trainings in worker processes: the task must travel

    train = run_json(capsys, ["train", *task, "--preset", "tiny", "--steps", "20", "--order", named,
                              "--order", "reverse", "--jobs", jobs, "--quiet"])
    assert [r["name"] for r in train["runs"]] == [named, "reverse"] and 0 <= train["runs"][0]["success"] <= 1

    prof = run_json(capsys, ["profile", *task, "--preset", "tiny", "--steps", "20", "--orders", f"{named},reverse",
                             "--random", "4", "--quiet"])
    assert len(prof["ranking"]) == 6 and {n["name"] for n in prof["named"]} == {named, "reverse"}

    probe = run_json(capsys, ["probe", *task, "--samples", "4000"])
    assert sorted(probe["order"]) == list(range(len(probe["order"])))

    search = run_json(capsys, ["search", *task, *SMALL_SEARCH, "--n-trials", "30", "--verify", "--verify-top", "1",
                               "--verify-random", "1", "--verify-jobs", "1"])
    assert 0 < search["new_trials"] <= 30 and search["best"] and search["verification"][0]["label"] == "found #1"
    study = search["study"]
    resumed = run_json(capsys, ["search", *task, "--quiet", "--n-trials", "12"])  # re-run: the same study resumes
    assert resumed["study"] == study and 0 < resumed["new_trials"] <= 12

    report = run_json(capsys, ["report", "--study", study])
    assert report["study"] == study and report["verification"] == resumed["verification"]
    stored = optuna.load_study(study_name=study, storage="sqlite:///storage/orderopt.db")
    assert len(stored.trials) == search["new_trials"] + resumed["new_trials"]


def test_workers_run_a_search_on_a_dataset_file(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    doc = run_json(capsys, ["search", "--task", str(folder / "user.npz"), *SMALL_SEARCH, "--n-trials", "24",
                            "--workers", "2", "--prior", "none", "--learnability", "none"])
    assert doc["new_trials"] >= 24 and doc["trials"].get("RUNNING", 0) == 0 and doc["best"]


NOISE = """import numpy as np

def generate(n, rng):
    return rng.integers(0, 10, size=(n, 5)), rng.integers(0, 10, size=(n, 5))
"""


def test_a_task_no_order_can_learn_is_told_so_and_searched_no_further(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "noise.py").write_text(NOISE)  # targets drawn apart from the inputs
    doc = run_json(capsys, ["search", "--task", "noise.py:generate", *SMALL_SEARCH, "--steps", "100",
                            "--prior", "none", "--n-trials", "30"])
    assert doc["new_trials"] == 0 and doc["learnability"]["verdict"] == "no order learned"
    (check,) = doc["learnability"]["rounds"]  # --steps fixes the length: one round, not lengthened
    assert not check["signal"] and check["pattern_z"] < 4
    report = run_json(capsys, ["report", "--study", doc["study"]])
    assert report["learnability"]["verdict"] == "no order learned"


@pytest.mark.parametrize("command", ["train", "profile", "probe", "search"])
@pytest.mark.parametrize("source", SOURCES)
def test_a_bad_source_is_one_line_and_writes_nothing(source, command, folder, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv, message = bad_task_args(source, folder)
    assert main([command, *argv, *(["--preset", "tiny"] if command != "probe" else [])]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("orderopt: error: ")
    assert not (tmp_path / "storage").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_serves_studies_of_every_source(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    names = []
    for source in SOURCES:
        # "callable" and "file" name one module two ways: the same default study name, so each gets its own
        doc = run_json(capsys, ["search", *task_args(source, folder), *SMALL_SEARCH, "--n-trials", "12",
                                "--prior", "none", "--study", f"dash-{source}"])
        names.append(doc["study"])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "orderopt", "dashboard", "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, listed = time.monotonic() + 60, None
        while time.monotonic() < deadline and listed is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                    listed = json.loads(response.read())
            except OSError:
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                time.sleep(0.5)
        assert listed is not None, "the dashboard did not answer within 60 s"
        assert {s["study_name"] for s in listed["study_summaries"]} == set(names)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
