"""Figures of a search: plotly cards for optuna-dashboard, and one PNG file (matplotlib).

Both draw the same two panels: profile scores round by round (lower is friendlier), and the
verified exact-match success of the found orders next to the baselines, each kind in its colour,
every bar labelled (a zero bar too) and every axis titled with its unit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import optuna

from orderopt._extras import available, require
from orderopt.errors import ConfigError
from orderopt.orders import format_order
from orderopt.report.history import stage_history
from orderopt.report.text import markdown_note
from orderopt.studies import VerifyRow, best_orders, read_verification

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["SCORES_CARD", "VERIFY_CARD", "figures", "publish", "save_plot"]

SCORES_CARD = "orderopt-profile-scores"
VERIFY_CARD = "orderopt-verification"
SCORE_AXIS = "profile loss (nats per target token, common scale)"
SUCCESS_AXIS = "exact-match success (share of test rows)"


# one colour per kind of verified order, so found orders, forward, reverse and random baselines read apart
KIND_COLOURS = {"found": "#2a9d8f", "forward": "#264653", "reverse": "#e76f51", "random": "#8d99ae", "other": "#e9c46a"}


def _kind(row: VerifyRow) -> str:
    label = row.label.split(":")[0].split(" ")[0]
    return label if label in KIND_COLOURS else "other"


def _round_label(round_no: int, stage: str) -> str:
    return f"{round_no}: {stage}"


def figures(study: optuna.Study) -> dict[str, go.Figure]:
    """Plotly figures keyed by card id: profile scores round by round, and (once verified) the
    success of the found orders next to the baselines."""
    go = require("plotly.graph_objects", "the dashboard cards")

    out: dict[str, go.Figure] = {}
    history = stage_history(study)
    if history:
        fig = go.Figure()
        for h in history:
            fig.add_trace(go.Box(y=h.scores, name=_round_label(h.round, h.stage), boxpoints="all", jitter=0.4,
                                 pointpos=0))
        best = best_orders(study, 1)
        found = f"<br><sup>found #1: {format_order(best[0][0])} (trial {best[0][2]})</sup>" if best else ""
        fig.update_layout(title=f"Profile scores, round by round (lower = friendlier){found}", yaxis_title=SCORE_AXIS,
                          xaxis_title="round: stage", showlegend=False)
        out[SCORES_CARD] = fig
    rows = read_verification(study)
    if rows:
        fig = go.Figure()
        for kind in KIND_COLOURS:
            mine = [r for r in rows if _kind(r) == kind]
            if mine:
                fig.add_trace(go.Bar(
                    x=[r.label for r in mine], y=[r.success for r in mine], name=kind, marker_color=KIND_COLOURS[kind],
                    text=[f"{r.success:.3f}" for r in mine], textposition="outside", cliponaxis=False,
                    hovertext=[f"{format_order(r.order)}; {r.steps or '?'} steps" for r in mine]))
        fig.update_layout(title="Verified success: found orders vs baselines", yaxis_title=SUCCESS_AXIS,
                          xaxis_title="order", yaxis_range=[0, 1.12], legend_title_text="kind",
                          xaxis={"categoryorder": "array", "categoryarray": [r.label for r in rows]})
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
    ax.set_xticks(range(1, len(history) + 1), [_round_label(h.round, h.stage) for h in history], rotation=45,
                  ha="right", fontsize=8)
    ax.set_xlabel("round: stage")
    ax.set_ylabel(SCORE_AXIS)
    ax.set_title("Profile scores, round by round (lower = friendlier)")
    if rows:
        ax = axes[0][1]
        bars = ax.bar([r.label for r in rows], [r.success for r in rows], color=[KIND_COLOURS[_kind(r)] for r in rows])
        ax.bar_label(bars, labels=[f"{r.success:.3f}" for r in rows], fontsize=8)
        for kind, colour in KIND_COLOURS.items():
            if any(_kind(r) == kind for r in rows):
                ax.bar([], [], color=colour, label=kind)
        ax.legend(title="kind", fontsize=8)
        ax.set_ylim(0, 1.12)
        ax.set_xlabel("order")
        ax.set_ylabel(SUCCESS_AXIS)
        ax.set_title("Verified success: found orders vs baselines")
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
