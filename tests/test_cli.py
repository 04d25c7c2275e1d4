from __future__ import annotations

import subprocess
import sys

import pytest

from orderopt.cli import main


def test_tasks_lists_every_task(capsys):
    from orderopt.tasks import TASKS

    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in TASKS:
        assert f"\n{name} " in "\n" + out
    assert "y_i = x_i^2 + y_{i-1}^2 mod 19" in out


def test_train_reports_success_per_order(capsys):
    code = main(["train", "--task", "square", "--length", "4", "--preset", "tiny", "--order", "forward",
                 "--order", "3,1,0,2", "--steps", "10", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "order forward = 0,1,2,3" in out and "order 3,1,0,2 = 3,1,0,2" in out
    assert out.count("success rate (exact match") == 2
    assert "accuracy by position" in out and "final val loss" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--task", "square", "--length", "8", "--order", "0,0,1"], "has length 3 but the task has L=8"),
        (["train", "--task", "nosuch"], "unknown task 'nosuch'"),
        (["train", "--task", "square", "--length", "1"], "needs length >= 2"),
        (["train", "--task", "prod", "--length", "5"], "even length"),
        (["train", "--task", "square", "--order", "0,0,1,2,3,4,5,6"], "repeats 0"),
        (["train", "--task", "square", "--preset", "huge"], "unknown preset"),
        (["train", "--task", "square", "--steps", "0"], "steps must be >= 1"),
        (["train", "--task", "missing.jsonl"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and err.startswith("orderopt: error: ")


def test_console_entry_point_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "orderopt", "train", "--task", "nosuch"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "unknown task" in proc.stderr
