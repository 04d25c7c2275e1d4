"""Reports of an order search: text tables, the dashboard note and plotly cards, PNG figures.

Everything is read back from the study's storage, so a report can be made from any machine that
reaches the storage, during or after the search. ``publish`` writes the Markdown note and the
plotly cards that optuna-dashboard shows on the study page; it overwrites the previous ones.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from orderopt._extras import available, require
from orderopt.errors import ConfigError
from orderopt.orders import Order, format_order
from orderopt.samplers import ITEM_SCORES_ATTR, trial_score
from orderopt.studies import VerifyRow, best_orders, learnability_of, probe_of, read_spec, read_verification
from orderopt.studies._search import RUN_ATTR, stopped_by_check
from orderopt.tasks import spec_label

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["StageSummary", "stage_history", "profile_spread", "flat_warning", "FLAT_SPREAD", "targets_learned",
           "unlearned_warning", "profile_warnings", "probe_line", "learnability_line", "no_order_learned", "LEARNED_LOSS", "tournament_table",
           "format_report", "report_data", "markdown_note", "figures", "publish", "save_plot"]

SCORES_CARD = "orderopt-profile-scores"
VERIFY_CARD = "orderopt-verification"


@dataclass
class StageSummary:
    """One round of the search (one mixture run, or one stage of one-by-one trials): how many
    orders it profiled, how many of them were references, and the best of them."""

    stage: str
    round: int | None
    first_trial: int
    trials: int
    pruned: int
    references: int
    scores: list[float]  # comparable scores
    completed: list[float]  # comparable scores of the orders profiled to the round's end (not pruned)
    best_score: float | None
    best_order: Order | None


def _round_key(t: FrozenTrial) -> tuple:
    run = t.system_attrs.get(RUN_ATTR)
    stage = t.system_attrs.get("orderopt:stage", t.user_attrs.get("stage", "?"))
    index = t.system_attrs.get("orderopt:round", t.user_attrs.get("round"))
    return (str(stage), index, run)


def stage_history(study: optuna.Study) -> list[StageSummary]:
    """Scored trials grouped by round, in the order the search ran them."""
    groups: dict[tuple, list[FrozenTrial]] = defaultdict(list)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if "order" in t.user_attrs:
            groups[_round_key(t)].append(t)
    out = []
    for (stage, rnd, _), trials in groups.items():
        scored = [(trial_score(t), t) for t in trials]
        scored = [(s, t) for s, t in scored if s is not None]
        best = min(scored, key=lambda st: (st[0], st[1].number)) if scored else None
        out.append(StageSummary(
            stage, rnd, min(t.number for t in trials), len(trials),
            sum(t.state == TrialState.PRUNED for t in trials),
            sum(t.system_attrs.get("orderopt:role") in ("reference", "tournament") for t in trials),
            [s for s, _ in scored], [s for s, t in scored if t.state == TrialState.COMPLETE],
            best[0] if best else None, tuple(best[1].user_attrs["order"]) if best else None,
        ))
    return sorted(out, key=lambda s: s.first_trial)


# A study whose rounds never spread further than this has a flat profile. Measured spreads (best vs
# median of a 128-order profile, benchmarks/results): scrambled delay L=8 0.0-0.4% (no search found its
# order), prod L=6 0.8% at 600 steps (lsd-first 40th) and 1.3-4.2% at 1,200 (1st in 2 of 3 seeds),
# relu 7-21%, square 60-96%.
FLAT_SPREAD = 0.01
SPREAD_MIN_ORDERS = 8  # smaller rounds (late local rounds, tournaments) say little about the spread


def profile_spread(study: optuna.Study, history: list[StageSummary] | None = None) -> float | None:
    """How far the profile told orders apart: the largest ``(median - best) / median`` of the
    scores of one round, over the study's rounds of at least ``SPREAD_MIN_ORDERS`` completed
    orders (``None`` before such a round). Pruned orders are left out (their scores are losses
    from an earlier step, which would widen the spread), and so are tournaments (a few already
    chosen orders). Within a round the comparable scores are the raw ones times one factor, so
    this is the spread of what the round measured. ``history``: the study's
    :func:`stage_history`, when the caller has it already."""
    spreads = []
    for h in stage_history(study) if history is None else history:
        median = float(np.median(h.completed)) if h.completed else 0.0
        if not h.stage.startswith("tournament") and len(h.completed) >= SPREAD_MIN_ORDERS and median > 0:
            spreads.append((median - min(h.completed)) / median)
    return max(spreads) if spreads else None


def flat_warning(study: optuna.Study, history: list[StageSummary] | None = None) -> str | None:
    """A one-paragraph warning when the profile is flat (see :data:`FLAT_SPREAD`), else ``None``."""
    spread = profile_spread(study, history)
    if spread is None or spread >= FLAT_SPREAD:
        return None
    return (f"warning: the profile is flat (no round's best order is more than {100 * spread:.1f}% below the round's "
            f"median; {100 * FLAT_SPREAD:.0f}% or more separates): loss profiling did not tell the orders apart, so "
            "found #1 may train no better than a random order. Profile longer (--steps) or with a larger preset, "
            "and check found #1 with --verify.")


# A target counts as learned under an order when its profile loss (validation cross-entropy per
# token, nats) is below this. A target that no profiled order has learned is still on its loss
# plateau under every order, so its loss ranks orders only by how soon they would leave it, which
# the profile may not see. Measured (benchmarks/results/profile_learned.md, 1 + 127 orders, 600
# steps): square, cubic, sine, mlp learn 8-12 of their targets; relu L = 12 learns 5, triangle L = 10
# and index L = 12 learn 1, delay L = 8 learns 1. The search still discovers triangle and relu but
# not index or delay (whose friendly order, trained alone, learns all 12 index targets by step 450),
# so few learned targets is a reason to verify, not a verdict: the message is a note.
LEARNED_LOSS = 0.1
LEARNED_SHARE = 0.5  # note when the profile learned fewer than this share of the targets


def targets_learned(study: optuna.Study) -> tuple[int, int] | None:
    """``(k, L)``: the most targets any one profiled order learned (per-target loss below
    :data:`LEARNED_LOSS`) out of the ``L`` targets, over the trials that stored per-target losses;
    ``None`` when none did (another objective, or no round has finished)."""
    best, length = -1, 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        losses = t.system_attrs.get(ITEM_SCORES_ATTR)
        if losses:
            length = len(losses)
            best = max(best, sum(v < LEARNED_LOSS for v in losses))
    return None if best < 0 else (best, length)


def unlearned_warning(study: optuna.Study) -> str | None:
    """A note when the profile learned fewer than :data:`LEARNED_SHARE` of the targets under
    every order it profiled (see :data:`LEARNED_LOSS`), else ``None``."""
    learned = targets_learned(study)
    if learned is None or learned[0] >= LEARNED_SHARE * learned[1]:
        return None
    k, length = learned
    return (f"note: the profile learned at most {k} of the {length} targets under any order (validation loss "
            f"below {LEARNED_LOSS}); the other {length - k} were still on their loss plateau under every order, "
            "so they ranked orders only by how soon each would leave it. Searches like this found the friendly "
            "order on some tasks and missed it on others: check found #1 with --verify, and if it trains poorly "
            "profile longer (--steps) or with a larger preset.")


def profile_warnings(study: optuna.Study, history: list[StageSummary] | None = None) -> list[str]:
    """Every warning and note on what the profile could not see (flat scores, unlearned targets)."""
    return [w for w in (flat_warning(study, history), unlearned_warning(study)) if w]


def learnability_line(study: optuna.Study) -> str | None:
    """One line on the study's learnability check (see :mod:`orderopt.learnability`), if it ran."""
    checked = learnability_of(study)
    if not checked:
        return None
    from orderopt.learnability import CheckRound, Learnability

    rounds = [CheckRound(**r) for r in checked["rounds"]]
    line = Learnability(checked["steps"], checked["learned"], rounds, checked.get("seconds", 0.0)).line()
    if not checked["learned"] and not stopped_by_check(study):  # the probe's order carries the search
        line = (line.replace("no order learned:", "profiles did not tell orders apart:", 1) + ". The search goes on "
                "anyway: the dependency probe explained every target, and its order stays found #1 unless a profile "
                "beats it; check it with --verify")
    return line


def no_order_learned(study: optuna.Study) -> bool:
    """True when the study's learnability check found that no order learned and nothing was searched
    (see :func:`orderopt.studies.stopped_by_check`)."""
    return stopped_by_check(study)


def probe_line(study: optuna.Study) -> str | None:
    """One line on the study's dependency probe: how many targets it explained and what its order
    does in the search (seed only, or seed and tournament entrant that stays first unless beaten)."""
    probe = probe_of(study)
    spec = read_spec(study)
    if not probe or spec is None or spec.prior != "dependency":
        return None
    entropy = probe.get("entropy") or []
    explained = sum(h < 0.1 for h in entropy)
    role = ("a seed of global-1 and a tournament entrant that stays found #1 unless another profiles 1% better"
            if probe.get("explained") else "a seed of global-1 only (not every target was determined)")
    return (f"dependency probe: {explained} of {len(entropy)} targets determined by at most 3 earlier tokens "
            f"({probe.get('seconds', 0):.0f} s); its order {format_order(tuple(probe['order']))} is {role}")


def tournament_table(study: optuna.Study) -> list[tuple[Order, list[float], float]]:
    """``(order, scores in the tournament runs, mean)`` of every tournament entrant, best first
    (the geometric mean, as found #1 is chosen)."""
    runs: dict[Order, list[float]] = defaultdict(list)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if str(t.system_attrs.get("orderopt:stage", "")).startswith("tournament") and "order" in t.user_attrs:
            runs[tuple(t.user_attrs["order"])].append(float(trial_score(t)))
    rows = [(o, v, float(math.exp(sum(math.log(x) for x in v) / len(v)))) for o, v in runs.items()]
    return sorted(rows, key=lambda r: (r[2], r[0]))


def _header(study: optuna.Study) -> str:
    spec = read_spec(study)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    counts = ", ".join(f"{sum(s == st for s in states)} {st.name.lower()}"
                       for st in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.FAIL)
                       if st in states)
    what = (f"task {spec_label(spec.task)} L={spec.length}, mode {spec.mode}, preset {spec.preset}, seed {spec.seed}"
            if spec else "not an orderopt search (no orderopt_spec attr); showing trials with an `order` attr")
    return f"study {study.study_name}: {what}; {len(states)} trials ({counts or 'none yet'})"


def _fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _table(head: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:  # numbers right-aligned, the last (order) column left-aligned
        return "  ".join(c.ljust(w) if i == len(cells) - 1 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(head), *(line(r) for r in rows)])


def _sections(study: optuna.Study, top: int, markdown: bool) -> list[tuple[str, str]]:
    best = best_orders(study, top)
    history = stage_history(study)
    tournament = tournament_table(study)
    verification = read_verification(study)
    warnings = profile_warnings(study, history)
    lines = [line for line in (probe_line(study), learnability_line(study)) if line]
    out = [("profile", "\n\n".join(lines + warnings))] if warnings or lines else []
    if no_order_learned(study):
        return out + [("verdict", "no order learned: nothing was searched, so no order is ranked (see above)")]
    out += [("best orders (lowest score = friendliest; scores on the study's common scale, see below)", _table(
        ["rank", "trial", "score", "order"],
        [[str(i), str(n), _fmt(s), format_order(o)] for i, (o, s, n) in enumerate(best, 1)], markdown)
        if best else "no completed trial yet")]
    if tournament:
        out.append(("tournament (found #1 = best geometric mean over the runs)", _table(
            ["rank", "scores per run", "mean", "order"],
            [[str(i), " / ".join(_fmt(v) for v in vs), _fmt(m), format_order(o)]
             for i, (o, vs, m) in enumerate(tournament, 1)], markdown)))
    out.append(("round by round", _table(
        ["stage", "round", "orders", "references", "pruned", "best score", "best order"],
        [[h.stage, "-" if h.round is None else str(h.round), str(h.trials), str(h.references), str(h.pruned),
          _fmt(h.best_score), format_order(h.best_order) if h.best_order else "-"] for h in history], markdown)
        if history else "no round has run yet"))
    out.append(("verification (full training, exact-match success on the test split)", _table(
        ["order", "success", "profile score", "trial", "steps", "stopped", "sequence"],
        [[r.label, f"{r.success:.3f}", _fmt(r.profile_score), "-" if r.trial is None else str(r.trial),
          "-" if r.steps is None else str(r.steps), r.stopped or "-", format_order(r.order)] for r in verification],
        markdown)
        if verification else "not verified yet: re-run the search command with --verify"))
    return out


SCALE_NOTE = (
    "Scores are profile losses (validation cross-entropy per target token after a short mixture training). "
    "Every round also re-profiles the best orders so far (references); a trial's score is its raw loss rescaled "
    "by how the references did in that round compared with their earlier scores, so rounds share one scale "
    "(user attrs `raw_score` and `score`). Trial params are the order's Lehmer digits, not meaningful one by "
    "one: read the order from the trial's `order` attr (the dashboard's importance and slice plots of the "
    "params do not describe the search)."
)


def format_report(study: optuna.Study, top: int = 10) -> str:
    """Plain-text report: best orders, the stage-by-stage history and the verification table."""
    parts = [_header(study)]
    for title, body in _sections(study, top, markdown=False):
        parts.append(f"\n{title}:\n{body}")
    return "\n".join(parts)


def report_data(study: optuna.Study, top: int = 10) -> dict:
    """The report as plain data (``orderopt report --json``): spec, trial counts, best orders,
    rounds, tournament and verification."""
    spec = read_spec(study)
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    history = stage_history(study)
    spread = profile_spread(study, history)
    learned = targets_learned(study)
    return {
        "study": study.study_name,
        "spec": asdict(spec) if spec else None,
        "trials": {state: states.count(state) for state in sorted(set(states))},
        "best": [{"rank": i, "order": list(o), "score": v, "trial": n}
                 for i, (o, v, n) in enumerate(best_orders(study, top), 1)],
        "rounds": [{"stage": h.stage, "round": h.round, "first_trial": h.first_trial, "trials": h.trials,
                    "pruned": h.pruned, "references": h.references, "best_score": h.best_score,
                    "best_order": list(h.best_order) if h.best_order else None} for h in history],
        "tournament": [{"order": list(o), "scores": v, "mean": m} for o, v, m in tournament_table(study)],
        "verification": [{**asdict(r), "order": list(r.order)} for r in read_verification(study)],
        "profile_spread": spread,
        "flat_profile": spread is not None and spread < FLAT_SPREAD,
        "targets_learned": None if learned is None else learned[0],
        "unlearned_warning": unlearned_warning(study) is not None,
        "dependency_probe": probe_of(study),
        "learnability": learnability_of(study),
        "verdict": "no order learned" if no_order_learned(study) else None,
    }


def markdown_note(study: optuna.Study, top: int = 10) -> str:
    """The study note shown by optuna-dashboard (Markdown)."""
    parts = [f"# orderopt search\n\n{_header(study)}"]
    for title, body in _sections(study, top, markdown=True):
        parts.append(f"## {title[0].upper()}{title[1:]}\n\n{body}")
    parts.append(SCALE_NOTE)
    parts.append("_Written by orderopt; refreshed after every search round, verification and "
                 "`orderopt dashboard` start._")
    return "\n\n".join(parts)


def _verification_colors(rows: list[VerifyRow]) -> list[str]:
    return ["#2a9d8f" if r.label.startswith("found") else "#8d99ae" for r in rows]


def figures(study: optuna.Study) -> dict[str, go.Figure]:
    """Plotly figures keyed by card id: profile scores by stage, and (once verified) the success
    of the discovered orders next to the baselines."""
    go = require("plotly.graph_objects", "the dashboard cards")

    out: dict[str, go.Figure] = {}
    history = stage_history(study)
    if history:
        fig = go.Figure()
        for h in history:
            name = h.stage if h.round is None else f"{h.stage} (round {h.round})"
            fig.add_trace(go.Box(y=h.scores, name=name, boxpoints="all", jitter=0.4, pointpos=0))
        fig.update_layout(title="Profile scores by stage (lower = friendlier)", yaxis_title="validation loss",
                          showlegend=False)
        out[SCORES_CARD] = fig
    rows = read_verification(study)
    if rows:
        fig = go.Figure(go.Bar(
            x=[r.label for r in rows], y=[r.success for r in rows], marker_color=_verification_colors(rows),
            text=[f"{r.success:.3f}" for r in rows], hovertext=[format_order(r.order) for r in rows],
        ))
        fig.update_layout(title="Verified success: discovered orders vs baselines", yaxis_title="exact-match success",
                          yaxis_range=[0, 1.05])
        out[VERIFY_CARD] = fig
    return out


def publish(study: optuna.Study, top: int = 10) -> None:
    """Write (overwrite) the study's dashboard note and plotly cards; without the dashboard extra
    there is no dashboard to show them, so nothing is written."""
    if not (available("optuna_dashboard") and available("plotly")):
        return
    from optuna_dashboard import save_note, save_plotly_graph_object

    save_note(study, markdown_note(study, top))
    for card_id, fig in figures(study).items():
        save_plotly_graph_object(study, fig, graph_object_id=card_id)


def save_plot(study: optuna.Study, path: str | Path, artifacts=None) -> Path:
    """Save the report figures (profile scores by stage; verification) as one PNG file; with an
    Optuna artifact store, also attach it to the study (the dashboard lists it)."""
    matplotlib = require("matplotlib", "report --plot")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"--plot must name a .png file, got {str(path)!r}")
    history = stage_history(study)
    rows = read_verification(study)
    if not history:
        raise ConfigError(f"study {study.study_name!r} has no scored trials yet: nothing to plot")
    panels = 2 if rows else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 4.5), squeeze=False)
    ax = axes[0][0]
    ax.boxplot([h.scores for h in history], showfliers=False)
    for i, h in enumerate(history, 1):
        ax.scatter([i] * len(h.scores), h.scores, s=8, alpha=0.6)
    ax.set_xticks(range(1, len(history) + 1), [h.stage for h in history], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("profile score (validation loss)")
    ax.set_title("Profile scores by stage (lower = friendlier)")
    if rows:
        ax = axes[0][1]
        ax.bar([r.label for r in rows], [r.success for r in rows], color=_verification_colors(rows))
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("exact-match success")
        ax.set_title("Verified: discovered orders vs baselines")
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    fig.suptitle(study.study_name)
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise ConfigError(f"cannot write --plot {str(path)!r}: {exc.strerror or exc}; pick a writable path") from None
    finally:
        plt.close(fig)
    if artifacts is not None:
        optuna.artifacts.upload_artifact(artifact_store=artifacts, file_path=str(path), study_or_trial=study,
                                         mimetype="image/png")
    return path
