from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest
from optuna_dashboard import get_note

from orderopt.cli import main
from orderopt.errors import ConfigError
from orderopt.orders import format_order
from orderopt.report import figures, format_report, publish, save_plot, stage_history
from orderopt.report.figures import SCORES_CARD, VERIFY_CARD
from orderopt.studies import best_orders, create_study, search, verify
from orderopt.studies import is_verdict
from orderopt.tasks import make_task

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A tiny finished search (two global rounds) with a verification table, in SQLite."""
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'orderopt.db'}"
    study = create_study(make_task("square", 5), storage=url, preset="tiny", levels=2, seed=0, population=6,
                         round_size=6, tournament_size=4)
    search(study, n_trials=16, progress=False)
    verify(study, top=1, baselines=("forward",), n_random=0, progress=False)
    return study, url


def test_stage_history_groups_rounds_in_run_order(searched):
    study, _ = searched
    history = stage_history(study)
    assert [h.stage for h in history][:2] == ["global-1", "global-2"]
    evaluated = [t for t in study.trials if not is_verdict(t)]  # the verdict trial records found #1, it is no evaluation
    assert sum(h.trials for h in history) == len(evaluated) <= 16  # --n-trials is a strict cap
    assert [h.round for h in history] == list(range(1, len(history) + 1))
    assert {t.user_attrs["round"] for t in evaluated} == {h.round for h in history}  # numbered as the report numbers
    assert history[0].references == 0 and history[1].references == 4  # later rounds re-profile the best
    for h in history:
        assert h.best_score == min(h.scores)
        assert len(h.scores) == h.trials  # pruned trials are scored too (comparable score)


def test_text_report_has_best_orders_history_and_verification(searched):
    study, _ = searched
    text = format_report(study)
    order, score, _ = best_orders(study, 1)[0]
    assert f"study {study.study_name}: task square L=5" in text
    assert format_order(order) in text and f"{score:.4f}" in text
    assert "round by round:" in text and "global-2" in text
    assert "found #1" in text and "forward" in text


def test_publish_writes_note_and_cards(searched):
    study, _ = searched
    publish(study)
    body = get_note(study)
    assert body.startswith("# orderopt search") and "| rank | trial | score | order |" in body
    assert format_order(best_orders(study, 1)[0][0]) in body
    assert "One scale" in body and "`order[0]` is the target generated first" in body
    cards = figures(study)
    assert set(cards) == {SCORES_CARD, VERIFY_CARD}
    bars = cards[VERIFY_CARD].data  # one trace per kind of order, each bar labelled (a zero bar too)
    assert [(t.name, list(t.x)) for t in bars] == [("found", ["found #1"]), ("forward", ["forward"])]
    assert all(t.textposition == "outside" and len(t.text) == len(t.x) for t in bars)
    layout = cards[VERIFY_CARD].layout
    assert "share of test rows" in layout.yaxis.title.text and layout.xaxis.title.text == "order"
    assert "nats per target token" in cards[SCORES_CARD].layout.yaxis.title.text
    assert cards[SCORES_CARD].data[0].name == "1: global-1"


def test_save_plot_writes_png(searched, tmp_path):
    study, _ = searched
    path = save_plot(study, tmp_path / "figs" / "search.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="must name a .png file"):
        save_plot(study, tmp_path / "search.pdf")


def test_verify_resumes_without_retraining(searched, monkeypatch):
    import orderopt.studies._verify as verify_module

    study, _ = searched
    before = {r["label"]: r["success"] for r in study.user_attrs["verification"]}

    def no_training(*args, **kwargs):
        raise AssertionError("an order already verified was retrained")

    monkeypatch.setattr(verify_module, "train_each", no_training)
    rows = verify(study, top=1, baselines=("forward",), n_random=0, progress=False)
    assert {r.label: r.success for r in rows} == before


def test_report_cli_prints_and_plots(searched, tmp_path, capsys):
    study, url = searched
    png = tmp_path / "r.png"
    assert main(["report", "--study", study.study_name, "--storage", url, "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "best orders" in out and "verification" in out and png.exists()
    assert main(["report", "--study", "nope", "--storage", url]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err
    assert main(["report", "--storage", url]) == 0  # one study in the storage: no name needed
    assert "best orders" in capsys.readouterr().out
    two = f"sqlite:///{tmp_path / 'two.db'}"
    for name in ("square", "relu"):
        create_study(make_task(name, 5), storage=two, preset="tiny")
    assert main(["report", "--storage", two]) == 2
    assert "holds 2 orderopt studies" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_dashboard_serves_the_study_over_http(searched):
    study, url = searched
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "orderopt.cli", "dashboard", "--storage", url, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                studies = _get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "dashboard did not start"
                time.sleep(0.5)
        study_id = next(s["study_id"] for s in studies if s["study_name"] == study.study_name)
        detail = _get_json(f"http://127.0.0.1:{port}/api/studies/{study_id}")
        first = detail["trials"][0]
        attrs = {a["key"]: a["value"] for a in first["user_attrs"]}
        assert json.loads(attrs["order"]) == study.trials[0].user_attrs["order"]
        assert attrs["stage"] == "global-1"
        assert first["intermediate_values"]  # the loss curve
        assert "# orderopt search" in detail["note"]["body"]
        assert {g["id"] for g in detail["plotly_graph_objects"]} == {SCORES_CARD, VERIFY_CARD}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_dashboard_port_in_use_is_one_line_error(searched, capsys):
    _, url = searched
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dashboard", "--storage", url, "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orderopt: error: cannot serve on 127.0.0.1:") and err.count("\n") == 1


def _study_with_rounds(rounds: list[list[float]], pruned: list[float] = (),
                       items: list[list[float]] = ()) -> optuna.Study:
    """An in-memory study holding one mixture round per list of scores (orders of L = 5); the
    ``pruned`` scores join the first round as orders dropped at an earlier checkpoint; ``items``
    are the per-target losses of the first trials, one list each."""
    from optuna.trial import TrialState

    from orderopt.orders import random_orders
    from orderopt.samplers import ITEM_SCORES_ATTR
    from orderopt.studies._search import RUN_ATTR

    study = optuna.create_study()
    orders = iter(random_orders(5, sum(map(len, rounds)) + len(pruned), seed=0))
    rows = [(r, score, TrialState.COMPLETE) for r, scores in enumerate(rounds) for score in scores]
    for i, (r, score, state) in enumerate(rows + [(0, score, TrialState.PRUNED) for score in pruned]):
        system = {RUN_ATTR: f"run-{r}", "orderopt:stage": f"global-{r + 1}", "orderopt:round": r}
        if i < len(items):
            system[ITEM_SCORES_ATTR] = items[i]
        study.add_trial(optuna.trial.create_trial(
            state=state, value=None if state == TrialState.PRUNED else score,
            intermediate_values={600: score}, user_attrs={"order": list(next(orders))}, system_attrs=system))
    return study


def test_flat_profile_is_reported_and_a_separating_one_is_not():
    from orderopt.report import FLAT_SPREAD, flat_warning, profile_spread, report_data

    # orders pruned at an early checkpoint (higher losses) must not make a flat round look spread
    flat = _study_with_rounds([[1.950 + 0.001 * i for i in range(10)], [1.95, 1.951, 1.952, 1.953]],
                              pruned=[2.3] * 20)
    assert profile_spread(flat) == pytest.approx((1.9545 - 1.950) / 1.9545)  # the 4-order round is too small to count
    assert profile_spread(flat) < FLAT_SPREAD
    assert "the profile is flat" in flat_warning(flat) and "the profile is flat" in format_report(flat)
    assert report_data(flat)["flat_profile"] is True

    one_ahead = _study_with_rounds([[1.95] * 9 + [0.9]])  # a single order far ahead of the median is a signal
    assert profile_spread(one_ahead) == pytest.approx(1.05 / 1.95) and flat_warning(one_ahead) is None
    separated = _study_with_rounds([[1.95 - 0.1 * i for i in range(10)]])
    assert profile_spread(separated) > FLAT_SPREAD
    assert flat_warning(separated) is None and "flat" not in format_report(separated)
    assert report_data(separated)["flat_profile"] is False
    assert profile_spread(optuna.create_study()) is None


def test_targets_no_order_learned_are_reported():
    from orderopt.report import LEARNED_LOSS, report_data, targets_learned, unlearned_warning

    low, high = LEARNED_LOSS / 2, 1.5
    # every order learned only the first target: 4 of 5 are on their plateau under every order
    stuck = _study_with_rounds([[1.2, 1.3, 1.4]], items=[[low, high, high, high, high], [high] * 5, [low] + [high] * 4])
    assert targets_learned(stuck) == (1, 5)
    warning = unlearned_warning(stuck)
    assert warning.startswith("note: ") and "at most 1 of the 5 targets" in warning and "other 4" in warning
    assert warning in format_report(stuck) and report_data(stuck)["targets_learned"] == 1
    # the most any one order learned counts: one order with 3 of 5 is enough
    seen = _study_with_rounds([[1.2, 1.3]], items=[[low, low, low, high, high], [high] * 5])
    assert targets_learned(seen) == (3, 5) and unlearned_warning(seen) is None
    assert "plateau" not in format_report(seen) and report_data(seen)["unlearned_warning"] is False
    # objectives without per-target losses say nothing
    assert targets_learned(_study_with_rounds([[1.2, 1.3]])) is None
    assert unlearned_warning(_study_with_rounds([[1.2, 1.3]])) is None
