"""Forward vs reverse exact-match success for every built-in task (the paper's Table 1, at CPU scale).

Run:  python benchmarks/order_sensitivity.py [--preset cpu] [--length 8] [--tasks relu,square]
Writes benchmarks/results/order_sensitivity.md.
"""

from __future__ import annotations

import argparse

from _common import RunCache, write_table

from orderopt.presets import get_preset
from orderopt.tasks import TASKS, make_task
from orderopt.training import success_rate, train, with_overrides


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--length", type=int, default=8)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--orders", default="forward,reverse")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    preset = get_preset(args.preset)
    config = with_overrides(preset.final_train, steps=args.steps, seed=args.seed)
    # Rows are cached one JSON line each, so an interrupted run resumes where it stopped.
    cache = RunCache("order_sensitivity", ("task", "L", "order", "steps", "seed"))
    rows = []
    for name in args.tasks.split(","):
        task = make_task(name, args.length)
        splits = None
        for order_name in args.orders.split(","):
            fields = {"task": name, "L": task.length, "order": order_name, "steps": config.total_steps(),
                      "seed": config.seed}

            def train_it(task=task, order_name=order_name) -> dict:
                nonlocal splits
                splits = splits or task.splits(config.n_train, config.n_val, config.n_test, seed=config.seed)
                order = task.parse_order(order_name)
                result = train(task, order, preset.final_model, config, splits=splits, progress=False)
                rep = success_rate(result.model, splits.x_test, splits.y_test, order)
                return {"success": rep.success_rate, "mean_acc": sum(rep.position_accuracy) / len(rep.position_accuracy),
                        "val_loss": result.curve[-1][1], "seconds": result.seconds}

            rec = cache.run(fields, train_it)
            row = [name, rec["L"], order_name, f"{rec['success']:.3f}", f"{rec['mean_acc']:.3f}",
                   f"{rec['val_loss']:.3f}", f"{rec['seconds']:.0f}"]
            print(" | ".join(str(c) for c in row), flush=True)
            rows.append(row)
    path = write_table(
        "order_sensitivity",
        f"Order sensitivity: exact-match success, preset {preset.name}, {config.total_steps()} steps",
        ["task", "L", "order", "success", "mean position acc.", "final val loss", "train s"],
        rows,
        notes=f"Model: {preset.final_model}. Success = all L targets right on {config.n_test} test samples (greedy). "
        "Rows are cached in order_sensitivity.jsonl (delete it to recompute); 'train s' is wall time and depends "
        "on what else the machine was running.",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
