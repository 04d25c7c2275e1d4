"""Named model + training sizes: ``tiny`` (tests), ``cpu`` (a 2-core laptop), ``paper``.

A preset has two models: the small *profile* model (short runs that score orders) and the
larger *final* model (full training that verifies an order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from orderopt.engine import TrainConfig
from orderopt.errors import ConfigError
from orderopt.model import ModelShape
from orderopt.tasks import make_task

__all__ = ["ModelShape", "Preset", "PRESETS", "TASK_RECIPES", "get_preset", "preset_for"]


@dataclass(frozen=True)
class Preset:
    """A named pair of models and their training: the profile model scores orders in short runs,
    the final model verifies an order by full training."""

    name: str
    profile_model: ModelShape
    profile_train: TrainConfig
    final_model: ModelShape
    final_train: TrainConfig
    description: str = ""
    # orders per mixture round of a search (global-1's random orders, each local round's new
    # ones): each order of a mixture gets 1/size of the profile's data, so a task whose targets
    # are slow to learn needs smaller rounds for the profile to tell its orders apart
    mixture_size: int = 512


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        "tiny",
        ModelShape(1, 2, 32, 64),
        TrainConfig(steps=60, batch_size=64, lr=3e-3, n_train=2_000, n_val=128, n_test=128, checkpoints=3),
        ModelShape(2, 2, 32, 64),
        TrainConfig(steps=120, batch_size=64, lr=3e-3, n_train=2_000, n_val=128, n_test=128, checkpoints=3,
                    adaptive=True),
        "~10k-parameter models, seconds per run: for tests",
    ),
    "cpu": Preset(
        "cpu",
        ModelShape(1, 2, 128, 256),
        TrainConfig(steps=600, batch_size=256, lr=3e-3, warmup_steps=30, n_train=50_000, n_val=512, n_test=2_000, checkpoints=6),
        ModelShape(2, 4, 128, 512),
        TrainConfig(steps=1_500, batch_size=256, lr=2e-3, warmup_steps=100, hold_fraction=0.6, n_train=100_000,
                    n_val=1_000, n_test=2_000, checkpoints=10, adaptive=True),
        "fits a 2-core CPU: minutes per full training",
    ),
    "paper": Preset(
        "paper",
        ModelShape(1, 1, 512, 2048, dropout=0.1),
        TrainConfig(epochs=1, batch_size=128, lr=5e-5, n_train=100_000, n_val=1_000, n_test=1_000, checkpoints=10),
        ModelShape(6, 1, 512, 2048, dropout=0.1),
        TrainConfig(epochs=10, batch_size=128, lr=5e-5, n_train=100_000, n_val=1_000, n_test=1_000, checkpoints=20,
                    adaptive=True),
        "arXiv 2506.23875: profile 1 layer d=512, final 6 layers, AdamW 5e-5 linear decay, batch 128",
    ),
}


def get_preset(name: str) -> Preset:
    """The preset registered under ``name`` (case-insensitive), or a one-line error listing them."""
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def _index_recipe(task) -> dict:
    """index with a window d >= 4 needs more steps to learn even forward; d = 2 keeps the preset's."""
    if getattr(task, "window", 2) >= 4:
        return {"final_train": replace(PRESETS["cpu"].final_train, steps=4_000)}
    return {}


def _prod_recipe(task) -> dict:
    """prod's changes to ``cpu``; steps, rows and feed-forward width depend on the operands' digit
    count. At L = 6 fewer rows make msd-first memorise instead of generalise while lsd-first still
    generalises; at L >= 8 the model leaves its plateau late, and a 256-wide layer learns as fast
    per step as a 512-wide one in less time. The trainings are hand-tuned to these lengths, so
    adaptive runs keep them (no extension; they still stop when solved)."""
    cpu = PRESETS["cpu"]
    final_train = replace(cpu.final_train, steps=9_000, lr=3e-3, hold_fraction=0.6, max_steps=9_000)
    final_model = replace(cpu.final_model, n_head=8)
    if task.length <= 6:
        final_train = replace(final_train, steps=6_000, max_steps=6_000, n_train=30_000)
    else:
        final_model = replace(final_model, ffn=256)
    return {"profile_train": replace(cpu.profile_train, steps=1_200),
            "final_model": final_model,
            "final_train": final_train,
            "mixture_size": 128}


# Per-task changes to a preset, where the preset's own settings do not separate the task's orders.
# Keys: (preset, task name); values: the fields of Preset to replace (or a function of the task
# that returns them, for recipes that depend on the task's options) and why, in one sentence with
# the result that backs it (benchmarks/README.md indexes them).
TASK_RECIPES: dict[tuple[str, str], tuple[dict | Callable[[object], dict], str]] = {
    ("cpu", "prod"): (
        _prod_recipe,
        "profiles of 1,200 steps on sparse operands in rounds of 128 orders, where 600-step profiles and larger "
        "mixtures did not rank lsd-first first; full trainings with 8 heads on sparse operands, learning rate 3e-3 "
        "held for 60% of the steps, 6,000 steps on 30,000 rows at L = 6 and 9,000 steps with a 256-wide "
        "feed-forward layer at L >= 8, not extended (benchmarks/results/profiling/profile_length.md, "
        "profiling/profile_prod_sparse_profiles.md, orders/training_recipe.md)",
    ),
    ("cpu", "relu"): (
        {"final_train": replace(PRESETS["cpu"].final_train, steps=500)},
        "full trainings of 500 steps, where forward is learned and reverse is not yet; longer trainings learn "
        "reverse too (benchmarks/results/orders/order_sensitivity.md)",
    ),
    ("cpu", "index"): (
        _index_recipe,
        "full trainings of 4,000 steps for windows d >= 4, which the preset's 1,500 do not learn in any order "
        "(benchmarks/results/orders/order_sensitivity.md)",
    ),
}


def preset_for(name: str, task) -> Preset:
    """Preset ``name`` with the per-task recipe of ``task`` (a task or a task name) applied, if
    there is one. A scrambled task uses the recipe of the task it relabels: relabelling changes
    which order is friendly, not how hard the task is to learn. A recipe that depends on the
    task's options is given the task, or for a name alone the task built with its defaults."""
    while getattr(task, "base", None) is not None:
        task = task.base
    task_name = task if isinstance(task, str) else task.name
    preset = get_preset(name)
    recipe = TASK_RECIPES.get((preset.name, task_name))
    if recipe is None:
        return preset
    fields, why = recipe
    if callable(fields):  # a name alone: the task with its default options (recipes name built-in tasks)
        fields = fields(make_task(task) if isinstance(task, str) else task)
    if not fields:
        return preset
    return replace(preset, description=f"{preset.description}; {task_name}: {why}", **fields)
