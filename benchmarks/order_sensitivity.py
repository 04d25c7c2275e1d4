"""Forward vs reverse exact-match success for every built-in task (the paper's Table 1, at CPU scale).

Run:  python benchmarks/order_sensitivity.py [--preset cpu] [--length 8] [--tasks relu,square]
Writes benchmarks/results/order_sensitivity.md.
"""

from __future__ import annotations

import argparse

from _common import write_table

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
    rows = []
    for name in args.tasks.split(","):
        task = make_task(name, args.length)
        splits = task.splits(config.n_train, config.n_val, config.n_test, seed=config.seed)
        for order_name in args.orders.split(","):
            order = task.parse_order(order_name)
            result = train(task, order, preset.final_model, config, splits=splits)
            rep = success_rate(result.model, splits.x_test, splits.y_test, order)
            mean_acc = sum(rep.position_accuracy) / len(rep.position_accuracy)
            row = [name, task.length, order_name, f"{rep.success_rate:.3f}", f"{mean_acc:.3f}",
                   f"{result.curve[-1][1]:.3f}", f"{result.seconds:.0f}"]
            print(" | ".join(str(c) for c in row), flush=True)
            rows.append(row)
    path = write_table(
        "order_sensitivity",
        f"Order sensitivity: exact-match success, preset {preset.name}, {config.total_steps()} steps",
        ["task", "L", "order", "success", "mean position acc.", "final val loss", "train s"],
        rows,
        notes=f"Model: {preset.final_model}. Success = all L targets right on {config.n_test} test samples (greedy).",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
