"""Forward vs reverse exact-match success for every built-in task (the paper's Table 1, at CPU scale).

Run:  python benchmarks/order_sensitivity.py [--preset cpu] [--length 8] [--tasks relu,square]
      python benchmarks/order_sensitivity.py --cases prod:6,relu:16,index:12:4   # task:L[:window]
      python benchmarks/order_sensitivity.py --cases prod:6 --steps 3000 --model 3,4,128,512 \\
          --name training_recipe                                   # measure a training recipe
      python benchmarks/order_sensitivity.py --cases prod:6 --orders forward --small-operands 0.5 \\
          --name training_recipe                                   # prod: curriculum over digit counts
      python benchmarks/order_sensitivity.py --cases prod:6 --sparse-operands 0 \\
          --name training_recipe                                   # prod: uniform training operands
      python benchmarks/order_sensitivity.py --cases prod:8 --sparse-zero 0.4 \\
          --name training_recipe                                   # prod: sparser sparse rows
Writes benchmarks/results/<name>.md (default order_sensitivity). Every training is cached in
results/<name>.jsonl under its task, order, steps, seed and settings (the training and model
values that differ from the preset's), so an interrupted run resumes; the table lists every
cached run of the file (under --rerun only those of today's code, so the command names the whole
sweep; --seed takes several seeds, 0,1,2).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from _common import RunCache, add_rerun_option, host_notes, in_topic, shown, write_table

from orderopt.model import ModelShape
from orderopt.presets import get_preset, preset_for
from orderopt.tasks import TASKS, Splits, make_task
from orderopt.training import success_rate, train, with_overrides

KEY = ("task", "L", "window", "order", "steps", "seed", "settings")


def parse_case(text: str) -> tuple[str, int, int | None]:
    """``task:L`` or ``task:L:window`` (window: the index task's d)."""
    parts = text.split(":")
    return parts[0], int(parts[1]), (int(parts[2]) if len(parts) > 2 else None)


# Runs here are fixed-length (the table compares orders at a given number of steps); their settings
# are named against the preset's training as it was when the table began (linear decay from the
# end of warmup, hold 0), so that cached rows keep their keys and today's cpu schedule (hold 0.6)
# shows in the settings column.
ADAPTIVE_FIELDS = ("adaptive", "max_steps", "budget_minutes", "extend_gain", "extend_window")


def reference_train(preset):
    """The fixed training the settings column is measured against."""
    return dataclasses.replace(preset.final_train, hold_fraction=0.0, adaptive=False)


def settings_of(preset, shape: ModelShape, config) -> dict | None:
    """The values of this run that differ from the preset's final model and (fixed) training (steps
    and seed are key fields of their own); ``None`` when there are none."""
    base_train, base_shape = dataclasses.asdict(reference_train(preset)), dataclasses.asdict(preset.final_model)
    out = {k: v for k, v in dataclasses.asdict(config).items()
           if k not in ("steps", "seed", "epochs", *ADAPTIVE_FIELDS) and v != base_train[k]}
    out.update({f"model.{k}": v for k, v in dataclasses.asdict(shape).items() if v != base_shape[k]})
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(out.items())} or None


def small_operand_train(task, splits: Splits, share: float, seed: int) -> Splits:
    """``prod`` with a curriculum over digit counts: a ``share`` of the training rows get operands
    of 1..n digits each (uniform, zero-padded) instead of n; validation and test stay uniform."""
    rng = np.random.default_rng([seed, 99])
    n, d = len(splits.x_train), task.digits
    digits = rng.integers(1, d + 1, size=(2, n))
    digits[:, rng.random(n) >= share] = d
    a, b = (np.floor(rng.random((2, n)) * 10.0 ** digits)).astype(np.int64)
    x, y = task.encode(a, b)
    return dataclasses.replace(splits, x_train=x, y_train=y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--length", type=int, default=8)
    ap.add_argument("--tasks", default=",".join(TASKS), help="tasks at --length (ignored with --cases)")
    ap.add_argument("--cases", default=None, help="comma list of task:L[:window]")
    ap.add_argument("--orders", default="forward,reverse")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--weight-decay", type=float, default=None)
    ap.add_argument("--hold", type=float, default=None, metavar="SHARE",
                    help="share of the steps held at the peak LR before its linear decay (default: the preset's)")
    ap.add_argument("--model", default=None, help="n_layer,n_head,n_embd,ffn (default: the preset's final model)")
    ap.add_argument("--no-task-defaults", action="store_true",
                    help="ignore the per-task training defaults (orderopt.presets.preset_for)")
    ap.add_argument("--small-operands", type=float, default=None, metavar="SHARE",
                    help="prod only: share of training rows with 1..n-digit operands (a curriculum)")
    ap.add_argument("--sparse-operands", type=float, default=None, metavar="SHARE",
                    help="prod only: share of training rows with zeroed operand digits (default: the task's, 0.5)")
    ap.add_argument("--sparse-zero", type=float, default=None, metavar="P",
                    help="prod only: chance that a sparse row's operand digit is 0 (default: the task's, 0.3)")
    ap.add_argument("--seed", default="0", help="training seed, or several comma-separated (0,1,2)")
    ap.add_argument("--name", default="order_sensitivity", help="result file name under benchmarks/results")
    add_rerun_option(ap)
    args = ap.parse_args()
    preset = get_preset(args.preset)
    cases = ([parse_case(c) for c in args.cases.split(",")] if args.cases
             else [(name, args.length, None) for name in args.tasks.split(",")])
    prod_only = (args.small_operands, args.sparse_operands, args.sparse_zero)
    if any(v is not None for v in prod_only) and any(name != "prod" for name, _, _ in cases):
        ap.error("--small-operands, --sparse-operands and --sparse-zero apply to prod only; give --cases prod:L")
    args.name = in_topic("orders", args.name)
    cache = RunCache(args.name, KEY)
    for name, length, window in cases:
        sparse = 0.0 if args.small_operands is not None else args.sparse_operands  # one curriculum at a time
        task = make_task(name, length, window=window, sparse_operands=sparse, sparse_zero=args.sparse_zero)
        chosen = preset if args.no_task_defaults else preset_for(preset.name, task)
        shape, config = chosen.final_model, chosen.final_train
        if args.model:
            shape = ModelShape(*(int(v) for v in args.model.split(",")))
        base = config
        for seed in (int(v) for v in args.seed.split(",")):
            config = with_overrides(base, steps=args.steps, seed=seed, lr=args.lr, batch_size=args.batch_size,
                                    n_train=args.n_train, warmup_steps=args.warmup,
                                    weight_decay=args.weight_decay, hold_fraction=args.hold, adaptive=False)
            splits = None
            for order_name in args.orders.split(","):
                settings = settings_of(preset, shape, config)
                if args.small_operands is not None:
                    settings = {**(settings or {}), "train.small_operands": args.small_operands}
                if getattr(task, "sparse_operands", 0):  # rows without it trained on uniform operands
                    settings = {**(settings or {}), "task.sparse_operands": task.sparse_operands}
                if "sparse_zero" in task.options():  # left out at its default, as in the task's spec
                    settings = {**(settings or {}), "task.sparse_zero": task.sparse_zero}
                fields = {"task": name, "L": task.length, "window": window, "order": order_name,
                          "steps": config.total_steps(), "seed": config.seed, "settings": settings}

                def train_it(task=task, order_name=order_name, shape=shape, config=config) -> dict:
                    nonlocal splits
                    if splits is None:
                        splits = task.splits(config.n_train, config.n_val, config.n_test, seed=config.seed)
                        if args.small_operands is not None:
                            splits = small_operand_train(task, splits, args.small_operands, config.seed)
                    order = task.parse_order(order_name)
                    result = train(task, order, shape, config, splits=splits, progress=False)
                    rep = success_rate(result.model, splits.x_test, splits.y_test, order)
                    n = len(splits.x_test)  # as many training samples: learned-but-not-generalised vs not learned
                    fit = success_rate(result.model, splits.x_train[:n], splits.y_train[:n], order)
                    return {"success": rep.success_rate, "mean_acc": sum(rep.position_accuracy) / len(rep.position_accuracy),
                            "position_acc": [round(a, 3) for a in rep.position_accuracy],
                            "train_success": fit.success_rate, "val_loss": result.curve[-1][1],
                            "curve": [round(v, 4) for _, v in result.curve], "seconds": result.seconds}

                rec = cache.run(fields, train_it, rerun=args.rerun)
                print(_row(rec), flush=True)
    # every cached run, in the order they were made (under --rerun only this version's: the command
    # then names the whole sweep)
    records = shown(list(cache.records.values()), args.rerun)
    rows = [_row(rec) for rec in records]
    path = write_table(
        args.name,
        f"Order sensitivity: exact-match success, preset {preset.name} (and per-task defaults)",
        ["task", "L", "d", "order", "steps", "seed", "settings", "success", "train-split success", "mean position acc.",
         "accuracy of y_0 .. y_L-1", "final val loss", "train s"],
        rows, records=records,
        notes=f"Preset final model: {preset.final_model}; 'settings' lists what differs from it and from the preset's "
        f"training ({preset.final_train.total_steps()} steps, lr {preset.final_train.lr}, batch "
        f"{preset.final_train.batch_size}, n_train {preset.final_train.n_train}). Success = all L targets right on "
        "the test samples (greedy); train-split success is the same on as many training samples (equal to "
        "success: the model generalises what it fits; both low: it has not fitted the task). Accuracy of "
        "y_i is by canonical position (-: run made before these columns existed). prod rows without "
        "task.sparse_operands trained on uniform operands (made before the option existed); "
        "train.sparse_digits=S:P rows drew their sparse operands with this script's own function before the task "
        "took it over (the same distribution as task.sparse_operands=S with p = P, another random draw). d: the index task's window (- = its default, 2). Rows are cached in the .jsonl next to this file (delete it to recompute); "
        "'train s' is wall time and depends on what else the machine was running. "
        + host_notes(records),
    )
    print(f"wrote {path}")


def _row(rec: dict) -> list[object]:
    settings = ", ".join(f"{k}={v}" for k, v in (rec.get("settings") or {}).items()) or "-"
    return [rec["task"], rec["L"], rec.get("window") or "-", rec["order"], rec["steps"], rec["seed"], settings,
            f"{rec['success']:.3f}", _maybe(rec.get("train_success")), f"{rec['mean_acc']:.3f}",
            " ".join(f"{a:.2f}" for a in rec["position_acc"]) if "position_acc" in rec else "-",
            f"{rec['val_loss']:.3f}", f"{rec['seconds']:.0f}"]


def _maybe(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
