"""The report as text, Markdown (the dashboard note) and plain data (``--json``): one set of
sections, three renderings, so the terminal, the note and the JSON never disagree."""

from __future__ import annotations

from dataclasses import asdict

import optuna
from optuna.trial import TrialState

from orderopt.orders import format_order
from orderopt.report.diagnostics import (FLAT_SPREAD, learnability_line, no_order_learned, probe_line, profile_spread,
                                         profile_warnings, targets_learned, unlearned_warning)
from orderopt.report.history import stage_history, tournament_table
from orderopt.studies import best_orders, learnability_of, probe_of, read_spec, read_verification
from orderopt.tasks import spec_label

__all__ = ["SCALE_NOTE", "format_report", "report_data", "markdown_note"]


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
    out += [("best orders (lowest score = friendliest; one scale, see below)", _table(
        ["rank", "trial", "score", "order"],
        [[str(i), str(n), _fmt(s), format_order(o)] for i, (o, s, n) in enumerate(best, 1)], markdown)
        if best else "no completed trial yet")]
    if tournament:
        out.append(("tournament (found #1 = best geometric mean over the runs; after a probe that explained every "
                    "target, the best that keeps its dependencies)", _table(
            ["rank", "scores per run", "mean", "order"],
            [[str(i), " / ".join(_fmt(v) for v in vs), _fmt(m), format_order(o)]
             for i, (o, vs, m) in enumerate(tournament, 1)], markdown)))
    out.append(("round by round", _table(
        ["round", "stage", "orders", "references", "pruned", "best score", "best order"],
        [[str(h.round), h.stage, str(h.trials), str(h.references), str(h.pruned),
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
    "**One scale.** Every score here, every trial's value and its intermediate values are profile losses "
    "(validation cross-entropy, nats per target token, after a short mixture training) on the study's common "
    "scale: each round re-profiles a panel of earlier orders (references) and rescales its raw losses by how "
    "the panel did there compared with before (user attrs `raw_score` and `score`; a trial's curve is its raw "
    "curve times the same factor, so it ends at the trial's value). Found #1 is the tournament's pick (geometric "
    "mean of its tournament scores); a *verdict* trial records it, so that Optuna's best trial (the dashboard's "
    "Best Trial card, `optuna best-trial`) is found #1. Its value is found #1's score, or just below the "
    "study's lowest value when a single profile of another order happened to score lower (its user attr "
    "`scale` says which).\n\n"
    "**Reading the dashboard.** A trial's params are its order: `order[0]` is the target generated first, "
    "`order[1]` the next, so the trials table reads as the orders, the importance plot says which step's "
    "choice mattered most, and a slice plot of `order[0]` shows the loss for each target placed first. The "
    "rounds' user attr `round` counts rounds as this note does; `stage` names the schedule's step."
)


def format_report(study: optuna.Study, top: int = 10) -> str:
    """Plain-text report: best orders, the stage-by-stage history and the verification table."""
    parts = [_header(study)]
    for title, body in _sections(study, top, markdown=False):
        parts.append(f"\n{title}:\n{body}")
    parts.append("\nscores: " + SCALE_NOTE.split("\n\n")[0].replace("**One scale.** ", "").replace("`", ""))
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
        "scale": "profile loss (nats per target token) on the study's common scale",
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
