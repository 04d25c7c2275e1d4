"""Verification: full training of the final model on the best orders and on baselines.

Trainings are adaptive (:mod:`orderopt.budget`): each stops once every validation row is right
and goes on past the preset's steps while its loss still falls. The found orders train first;
the baselines (forward, reverse, random orders) then get at most the preset's steps or as many
as the found orders used, whichever is more, so that a verdict compares orders at equal budgets
and a baseline that learns slowly does not cost more than the search's own result did.

With an artifact store, each trained model is kept as a study artifact (one
:func:`~orderopt.training.save_checkpoint` file), so optuna-dashboard offers it for download and
:func:`~orderopt.training.load_checkpoint` rebuilds it."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import optuna

from orderopt.orders import Order, format_order, random_orders
from orderopt.presets import preset_for
from orderopt.studies._search import best_orders
from orderopt.studies._spec import read_spec
from orderopt.studies._study import task_of
from orderopt.engine import TrainConfig
from orderopt.training import save_checkpoint, with_overrides
from orderopt.training_pool import train_each

__all__ = ["VerifyRow", "verify", "verify_config", "read_verification", "format_verification", "VERIFY_ATTR"]

VERIFY_ATTR = "verification"


@dataclass
class VerifyRow:
    """One verified order: its label, success after full training, profile score and model artifact."""
    label: str  # "found #1", "forward", "random:0", ...
    order: Order
    success: float
    profile_score: float | None
    trial: int | None
    artifact: str | None = None  # id of the trained model in the study's artifact store
    steps: int | None = None  # training steps used
    stopped: str | None = None  # why the training stopped (orderopt.budget.STOP_REASONS)


def verify(
    study: optuna.Study,
    *,
    top: int = 3,
    baselines: tuple[str, ...] = ("forward", "reverse"),
    n_random: int = 3,
    device: str | None = None,
    jobs: int | None = None,
    progress: bool = True,
    artifacts: optuna.artifacts.FileSystemArtifactStore | None = None,
) -> list[VerifyRow]:
    """Retrain the preset's final model on the ``top`` best orders of ``study``, on the named
    ``baselines`` and on ``n_random`` random orders. The table (label, order, success, profile
    score, trial number) is stored as the study user attr ``verification`` (Optuna does not let
    finished trials change) after every training, so an interrupted verification resumes: orders
    already verified in this study are not retrained. With ``artifacts`` (any Optuna artifact
    store) every trained model is uploaded as a study artifact; its id is the row's ``artifact``.
    ``jobs`` trainings run at once (default: one per core on a CPU, see
    :mod:`orderopt.training_pool`)."""
    spec = read_spec(study)
    task = task_of(study)
    preset = preset_for(spec.preset, task)
    config = verify_config(study, device)
    ranked = best_orders(study, top=len(study.trials))  # tournament first, then by comparable score
    found = ranked[:top]
    scores = {o: (v, n) for o, v, n in ranked}
    plan: list[tuple[str, Order]] = [(f"found #{i + 1}", o) for i, (o, _, _) in enumerate(found)]
    plan += [(name, task.parse_order(name)) for name in baselines]
    plan += [(f"random:{i}", o) for i, o in enumerate(random_orders(task.length, n_random, spec.seed, exclude=[o for _, o in plan]))]
    stored = read_verification(study)
    done: dict[Order, VerifyRow] = {r.order: r for r in stored}
    found_orders = list(dict.fromkeys(o for label, o in plan if label.startswith("found")))
    rest = list(dict.fromkeys(o for _, o in plan if o not in found_orders))
    splits = None
    for phase, orders in enumerate((found_orders, rest)):
        todo = [o for o in orders if o not in done]
        if not todo:
            continue
        phase_config = config
        if phase == 1:  # the baselines: at most the preset's steps, or what the found orders used
            used = [done[o].steps or 0 for o in found_orders if o in done]
            phase_config = replace(config, max_steps=max([config.total_steps(), *used]))
        splits = splits or task.splits(config.n_train, config.n_val, config.n_test, seed=config.seed)
        for trained in train_each(task, todo, preset.final_model, phase_config, splits=splits, jobs=jobs,
                                  progress=progress):
            order, result = todo[trained.index], trained.result
            artifact = None
            if artifacts is not None:
                artifact = _upload_model(study, artifacts, result, task, preset.final_model, phase_config,
                                         trained.report.success_rate)
            done[order] = VerifyRow("", order, trained.report.success_rate, None, None, artifact, result.steps,
                                    result.stop_reason)
            # store after every training (with earlier rows not re-listed), so an interruption loses none
            rows = _rows(plan, done, scores)
            listed = {r.order for r in rows}
            _store(study, rows + [r for r in stored if r.order not in listed])
    rows = _rows(plan, done, scores)
    _store(study, rows)
    return rows


def verify_config(study: optuna.Study, device: str | None = None) -> TrainConfig:
    """The full training a study's verification runs (the preset's final training, adaptive)."""
    spec = read_spec(study)
    return with_overrides(preset_for(spec.preset, task_of(study)).final_train, seed=spec.seed, device=device)


def _rows(plan: list[tuple[str, Order]], done: dict[Order, VerifyRow], scores: dict) -> list[VerifyRow]:
    """The rows of ``plan`` verified so far, in plan order, labelled and scored."""
    return [replace(done[order], label=label, profile_score=scores.get(order, (None, None))[0],
                    trial=scores.get(order, (None, None))[1]) for label, order in plan if order in done]


def _upload_model(study, store, result, task, shape, config, success: float) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        name = f"model-{format_order(result.order).replace(',', '-')}.pt"
        path = save_checkpoint(result, task, shape, config, Path(tmp) / name, success=success)
        return optuna.artifacts.upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study,
                                                mimetype="application/octet-stream")


def _store(study: optuna.Study, rows: list[VerifyRow]) -> None:
    study.set_user_attr(VERIFY_ATTR, [{**asdict(r), "order": list(r.order)} for r in rows])


def read_verification(study: optuna.Study) -> list[VerifyRow]:
    """The verification table stored in ``study`` (empty before ``verify`` ran)."""
    raw = study.user_attrs.get(VERIFY_ATTR) or []
    return [VerifyRow(r["label"], tuple(r["order"]), float(r["success"]), r.get("profile_score"), r.get("trial"),
                      r.get("artifact"), r.get("steps"), r.get("stopped")) for r in raw]


def format_verification(rows: list[VerifyRow]) -> str:
    """The verification rows as a plain-text table."""
    lines = [f"{'order':<12} {'success':>8} {'profile score':>14}  {'trial':>5}  {'steps':>6}  {'stopped':<9}  sequence"]
    for r in rows:
        score = f"{r.profile_score:.4f}" if r.profile_score is not None else "-"
        trial = str(r.trial) if r.trial is not None else "-"
        steps = str(r.steps) if r.steps is not None else "-"
        lines.append(f"{r.label:<12} {r.success:>8.3f} {score:>14}  {trial:>5}  {steps:>6}  {r.stopped or '-':<9}  "
                     f"{format_order(r.order)}")
    return "\n".join(lines)
