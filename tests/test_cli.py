from __future__ import annotations

import json
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
        (["train", "--task", "prod", "--length", "6", "--sparse-operands", "2"], "share of training rows in 0..1"),
        (["train", "--task", "square", "--sparse-operands", "0.5"], "task square takes no --sparse-operands (an option of prod)"),
        (["probe", "--task", "tests.user_task:generate", "--window", "3"], "--window sets an option of a built-in task;"),
        (["profile", "--task", "prod", "--length", "6", "--sparse-profiles", "-1"], "share of loss-profiling rows"),
        (["train", "--task", "prod", "--length", "6", "--sparse-zero", "1"], "sparse_zero is the chance"),
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


def test_profile_prints_ranked_table_and_named_ranks(capsys):
    code = main(["profile", "--task", "square", "--length", "5", "--orders", "forward,reverse,3,1,0,2,4",
                 "--random", "5", "--preset", "tiny", "--steps", "10", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "profiling 8 orders, mode mixture, signal index" in out
    table = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit() and len(line.split()) == 3]
    assert [int(r[0]) for r in table] == list(range(1, 9))
    scores = [float(r[2]) for r in table]
    assert scores == sorted(scores)
    for name in ("forward", "reverse", "3,1,0,2,4"):
        assert any(line.split()[:2] == [name, "rank"] for line in out.splitlines())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--orders", "forward,1,2"], "has length 2"),
        (["--orders", "sideways"], "unknown order name"),
        (["--random", "200"], "cannot draw 200 distinct orders"),
    ],
)
def test_profile_bad_input(capsys, argv, message):
    assert main(["profile", "--task", "square", "--length", "5", "--preset", "tiny", "--quiet", *argv]) == 2
    assert message in capsys.readouterr().err


def test_search_creates_a_study_and_rerun_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["search", "--task", "square", "--length", "5", "--preset", "tiny", "--levels", "2", "--n-trials", "6", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "study square-L5-mixture-seed0" in out and "0 trials so far" in out and "global-1" in out
    assert "dependency probe: 5 of 5 targets determined" in out and "0,1,2,3,4 is" in out
    assert (tmp_path / "storage" / "orderopt.db").exists()
    assert main(argv) == 0
    assert "6 trials so far" in capsys.readouterr().out
    assert main(["worker", "--study", "square-L5-mixture-seed0", "--n-trials", "2", "--quiet"]) == 0
    assert "12 trials so far" in capsys.readouterr().out
    assert main([*argv[:-3], "--n-trials", "0", "--verify", "--verify-top", "1", "--verify-random", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "found #1" in out and "forward" in out and "random:0" not in out
    assert "report: orderopt report --study square-L5-mixture-seed0" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["search", "--task", "square", "--storage", "postgresql+psycopg2://x@127.0.0.1:1/db"], "cannot open storage"),
        (["worker", "--study", "nope"], "no study storage at storage/orderopt.db"),
        (["search", "--task", "nosuch"], "unknown task"),
    ],
)
def test_search_bad_input(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_password_is_never_printed(postgres_url, study_name, capsys):
    import optuna

    secret = "s3cret-pw"
    url = postgres_url.replace("postgres@", f"postgres:{secret}@")  # trust auth: any password is accepted
    argv = ["search", "--task", "square", "--length", "5", "--preset", "tiny", "--levels", "2", "--n-trials", "3",
            "--storage", url, "--study", study_name]
    try:
        assert main(argv) == 0
        assert main(["report", "--study", study_name, "--storage", url]) == 0
        assert main(["worker", "--study", study_name, "--storage", url, "--n-trials", "0"]) == 0
    finally:
        optuna.delete_study(study_name=study_name, storage=postgres_url)
    bad = url.replace(":5432/", ":1/")
    assert main(["search", "--task", "square", "--storage", bad]) == 2
    out = capsys.readouterr()
    assert "postgres:***@" in out.out
    assert secret not in out.out + out.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["profile", "--task", "square", "--random", "-5"], "--random must be >= 0"),
        (["profile", "--task", "square", "--top", "-1"], "--top must be >= 1"),
        (["report", "--study", "x", "--top", "0"], "--top must be >= 1"),
        (["search", "--task", "square", "--n-trials", "-3"], "--n-trials must be >= 0"),
        (["train", "--task", "square", "--lr", "nan"], "--lr must be a positive finite number"),
        (["train", "--task", "square", "--lr", "inf"], "--lr must be a positive finite number"),
        (["train", "--task", "square", "--hold", "1.5"], "hold_fraction is a share of the steps in [0, 1)"),
        (["train", "--task", "square", "--hold", "nan"], "hold_fraction is a share of the steps in [0, 1)"),
        (["profile", "--task", "square", "--length", "10000"], "above orderopt's limit of 256"),
        (["search", "--task", "square", "--budget-minutes", "nan"], "--budget-minutes must be a positive finite number"),
        (["dashboard", "--port", "70000"], "--port must be in 1..65535"),
        (["train", "--task", "os:no_such_function"], "cannot import 'os:no_such_function'"),
    ],
)
def test_negative_counts_are_refused(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "storage").exists()  # nothing written


def test_json_outputs_saved_models_and_artifacts_served_by_the_dashboard(tmp_path, monkeypatch, capsys):
    import io
    import json
    from wsgiref.util import setup_testing_defaults

    import optuna
    from optuna_dashboard import wsgi

    from orderopt.storage import artifact_store
    from orderopt.training import load_checkpoint

    monkeypatch.chdir(tmp_path)
    assert main(["profile", "--task", "square", "--length", "5", "--preset", "tiny", "--random", "3", "--json"]) == 0
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert [r["rank"] for r in doc["ranking"]] == [1, 2, 3, 4, 5] and "profiling 5 orders" in out.err

    assert main(["train", "--task", "square", "--length", "4", "--preset", "tiny", "--steps", "40", "--output", "models",
                 "--json", "--quiet"]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    model, meta = load_checkpoint(tmp_path / run["output"] / "model.pt")
    assert meta["order"] == [0, 1, 2, 3] and meta["success"] == run["success"] and model.num_params() > 0

    argv = ["search", "--task", "square", "--length", "5", "--preset", "tiny", "--levels", "2", "--n-trials", "6",
            "--verify", "--verify-top", "1", "--verify-random", "0", "--quiet", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["study"] == "square-L5-mixture-seed0" and doc["new_trials"] == 6 and len(doc["best"]) >= 1
    found = doc["verification"][0]
    assert found["label"] == "found #1" and found["artifact"]

    assert main(["report", "--study", doc["study"], "--json", "--plot", "figs/report.png"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verification"] == doc["verification"] and report["spec"]["length"] == 5

    url = "sqlite:///storage/orderopt.db"
    study = optuna.load_study(study_name=doc["study"], storage=url)
    app = wsgi(url, artifact_store=artifact_store(url))
    environ = {"PATH_INFO": f"/artifacts/{study._study_id}/{found['artifact']}", "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    assert status[0].startswith("200")
    model, meta = load_checkpoint(io.BytesIO(body))
    assert meta["order"] == found["order"] and meta["success"] == found["success"]
    models = len({tuple(r["order"]) for r in doc["verification"]})
    assert len(optuna.artifacts.get_all_artifact_meta(study)) == models + 1  # + the figure


def test_probe_prints_what_determines_each_target(capsys):
    assert main(["probe", "--task", "square", "--length", "5", "--scramble", "1", "--samples", "20000"]) == 0
    out = capsys.readouterr().out
    assert "every target determined" in out and out.count("(not determined)") == 0
    assert main(["probe", "--task", "prod", "--length", "4", "--samples", "20000", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["explained"] is False and sorted(payload["order"]) == [0, 1, 2, 3]
    assert main(["probe", "--task", "square", "--max-parents", "9"]) == 2
    assert "--max-parents must be 1-4" in capsys.readouterr().err


def test_every_option_is_checked_before_anything_is_written(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.chdir(tmp_path)
    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    (tmp_path / "folder.png").mkdir()
    cases = [
        (["search", "--task", "square", "--device", "tpu"], "unknown device 'tpu'"),
        (["search", "--task", "square", "--n-trials", "0"], "--n-trials 0 only reports or verifies an existing study"),
        (["search", "--task", "square", "--workers", "0"], "--workers must be >= 1"),
        (["search", "--task", "square", "--storage", "postgresql+psycopg2://x@127.0.0.1:1/db"], "cannot open storage"),
        (["search", "--task", str(tmp_path)], "is a directory"),
        (["train", "--task", "square", "--output", str(a_file)], "is a file, not a folder"),
        (["train", "--task", "square", "--max-steps", "0"], "--max-steps must be >= 1"),
        (["report", "--study", "x", "--plot", str(tmp_path / "folder.png")], "is a folder; name a .png file"),
        (["worker", "--study", "x", "--device", "nonsense"], "unknown device"),
    ]
    if not torch.cuda.is_available():
        cases.append((["search", "--task", "square", "--device", "cuda"], "CUDA is not available; use --device cpu"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        out = capsys.readouterr()
        assert message in out.err and out.err.count("\n") == 1 and not out.out, (argv, out.err)
        assert not (tmp_path / "storage").exists(), argv  # nothing written


def test_help_shows_each_default_once(capsys):
    for command in ("train", "profile", "probe", "search", "worker", "report", "dashboard"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "(default: None)" not in text and "default: False" not in text
        assert "[cpu] (default" not in text and "(default: 10)" in text if command in ("search", "report") else True


def test_a_search_that_fails_before_its_first_trial_leaves_no_study(tmp_path, monkeypatch, capsys):
    import optuna

    import orderopt.studies._search as search_module
    from orderopt.errors import ConfigError

    def broken(*args, **kwargs):
        raise ConfigError("the profile cannot start")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(search_module, "profile_splits", broken)
    assert main(["search", "--task", "square", "--length", "5", "--preset", "tiny", "--learnability", "none",
                 "--prior", "none", "--quiet"]) == 2
    assert "the profile cannot start" in capsys.readouterr().err
    assert optuna.get_all_study_summaries("sqlite:///storage/orderopt.db") == []


def test_report_checks_its_plot_path_before_printing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--task", "square", "--length", "5", "--preset", "tiny", "--levels", "2", "--n-trials", "6",
                 "--learnability", "none", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", "--study", "square-L5-mixture-seed0", "--plot", "figure.pdf"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "--plot must name a .png file" in out.err


def test_optunas_best_trial_is_the_reports_found_1_also_after_resume(tmp_path, monkeypatch, capsys):
    import optuna

    monkeypatch.chdir(tmp_path)
    argv = ["search", "--task", "square", "--length", "5", "--preset", "tiny", "--levels", "2", "--population", "12",
            "--round-size", "12", "--tournament-size", "4", "--learnability", "none", "--quiet", "--json"]
    for _ in range(2):  # the search, then a re-run that resumes the finished study
        assert main(argv) == 0
        found = json.loads(capsys.readouterr().out)["best"][0]
        assert main(["report", "--study", "square-L5-mixture-seed0", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["best"][0] == found
        best = optuna.load_study(study_name="square-L5-mixture-seed0", storage="sqlite:///storage/orderopt.db").best_trial
        assert best.number == found["trial"] and best.user_attrs["order"] == found["order"]
        assert best.user_attrs["stage"] == "verdict" and best.user_attrs["score"] == found["score"]
