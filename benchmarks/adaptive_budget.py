"""Adaptive full training (orderopt.budget): steps used, why each run stopped, exact-match success.

Run (from the repository root):
    python benchmarks/adaptive_budget.py --cases square:8,relu:16 --orders forward,reverse,random:0
    python benchmarks/adaptive_budget.py --cases index:12:4 --no-recipe        # can adaptivity replace a recipe?
    python benchmarks/adaptive_budget.py --cases examples/recurrence4.py:generate --orders friendly,unfriendly
    python benchmarks/adaptive_budget.py --cases square:8 --mode fixed          # the preset's fixed run, for comparison

A case is ``task:L[:window]`` (built-in), ``path/to/file.py:function`` (generator) or a dataset
file. The orders of a case train side by side, one process per core, as ``orderopt train`` does.
``--mode adaptive`` (default) is the preset's training as the CLI runs it; ``fixed`` is the same
schedule run for exactly the planned steps (``orderopt train --fixed``).
Every run is cached in results/adaptive_budget.jsonl; the table lists every cached run.
"""

from __future__ import annotations

import argparse
import dataclasses

from _common import RunCache, add_rerun_option, host_notes, write_table

from orderopt.presets import get_preset, preset_for
from orderopt.tasks import resolve_task, spec_label
from orderopt.training import with_overrides
from orderopt.training_pool import train_each

KEY = ("task", "order", "mode", "recipe", "seed", "gain", "window_share")


def parse_case(text: str):
    """A task from ``task:L[:window]``, ``file.py:function`` or a dataset path."""
    if ".py:" in text or text.endswith((".npz", ".jsonl", ".json")):
        return resolve_task(text)
    name, length, *window = text.split(":")
    return resolve_task(name, int(length), window=int(window[0]) if window else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", required=True, help="comma list of cases (see above)")
    ap.add_argument("--orders", default="forward,reverse")
    ap.add_argument("--mode", default="adaptive", choices=("adaptive", "fixed"))
    ap.add_argument("--no-recipe", action="store_true", help="the plain cpu preset, without the task's recipe")
    ap.add_argument("--scramble", type=int, default=None, help="relabel each case's targets by this seed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--name", default="orders/adaptive_budget")
    add_rerun_option(ap)
    args = ap.parse_args()
    cache = RunCache(args.name, KEY)
    for case in args.cases.split(","):
        task = parse_case(case)
        if args.scramble is not None:
            from orderopt.tasks import scrambled

            task = scrambled(task, args.scramble)
        preset = get_preset("cpu") if args.no_recipe else preset_for("cpu", task)
        config = with_overrides(preset.final_train, seed=args.seed)
        if args.mode == "fixed":
            config = dataclasses.replace(config, adaptive=False)
        names = args.orders.split(",")
        fields = {n: {"task": spec_label(task.spec()) + f" (L={task.length})", "order": n, "mode": args.mode,
                      "recipe": not args.no_recipe, "seed": args.seed, "gain": config.extend_gain,
                      "window_share": config.extend_window} for n in names}
        todo = [n for n in names if cache.needs(fields[n], rerun=args.rerun)]
        if todo:
            orders = [task.parse_order(n) for n in todo]
            for trained in train_each(task, orders, preset.final_model, config, jobs=args.jobs, progress=False):
                result, name = trained.result, todo[trained.index]
                cache.run(fields[name], lambda result=result, trained=trained: {
                    "planned": config.total_steps(), "steps": result.steps, "stopped": result.stop_reason,
                    "success": trained.report.success_rate, "seconds": round(result.seconds, 1),
                    "curve": [[s, round(v, 4)] for s, v in result.curve]}, rerun=args.rerun)
        for n in names:
            print(_row(cache.get(fields[n])), flush=True)
    records = list(cache.records.values())
    path = write_table(
        args.name, "Adaptive full training: steps used and why each run stopped (cpu preset)",
        ["task", "order", "mode", "recipe", "planned", "steps", "stopped", "success", "final val loss", "train s"],
        [_row(r) for r in records], records=records,
        notes="adaptive: stops when every validation row is right (solved); at the preset's decay start, holds the "
              f"peak learning rate while the validation loss fell by >= {int(100 * records[0]['gain'])}% over the "
              f"last {int(100 * records[0]['window_share'])}% of the planned steps, then decays (settled), at most "
              "4x the planned steps (max-steps). fixed: the same schedule for exactly the planned steps. Orders of one case trained side by side, one process per core; "
              "'train s' is wall time. " + host_notes(records),
    )
    print(f"wrote {path}")


def _row(rec: dict) -> list[object]:
    return [rec["task"], rec["order"], rec["mode"], "yes" if rec["recipe"] else "no", rec["planned"], rec["steps"],
            rec["stopped"], f"{rec['success']:.3f}", f"{rec['curve'][-1][1]:.3f}", f"{rec['seconds']:.0f}"]


if __name__ == "__main__":
    main()
