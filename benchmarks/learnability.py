"""The learnability check (orderopt.learnability) on tasks that learn and tasks that cannot.

Run (from the repository root):
    python benchmarks/learnability.py --cases square:8:1,relu:12:5,prod:6:1,prod:6:2,delay:8:0,noise:6,noise:8,noise:12,examples/recurrence4.py:generate:1

A case is ``task:L:scramble`` (built-in; scramble ``-`` for none), ``file.py:function[:scramble]``,
a dataset file, or ``noise:L`` (targets drawn independently of the inputs: nothing can be learned).
For each case the check profiles its panel (forward, reverse, the dependency probe's order when
it explains every target, random orders) under two seeds and lengthens the profile while neither
signal shows (see the module). The table shows each length tried: the seeds' rank agreement and
pattern agreement, the targets some orders learned and others did not, and the verdict. Cached per case in
results/learnability.jsonl.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import RunCache, add_rerun_option, host_notes, write_table

from orderopt.dependency import probe_dependencies
from orderopt.learnability import CheckConfig, check_learnability
from orderopt.presets import preset_for
from orderopt.profiling import config_from_preset
from orderopt.tasks import from_callable, resolve_task, scrambled, spec_label

KEY = ("case", "seed", "orders", "agreement", "pattern_z", "learned_share", "max_factor")


def noise_task(length: int):
    """Targets independent of the inputs."""

    def noise(n: int, rng: np.random.Generator):
        return rng.integers(0, 10, size=(n, length)), rng.integers(0, 10, size=(n, length))

    return from_callable(noise, name=f"noise{length}")


def parse_case(text: str):
    parts = text.split(":")
    if parts[0] == "noise":
        return noise_task(int(parts[1]))
    if ".py" in parts[0]:
        task = resolve_task(f"{parts[0]}:{parts[1]}")
        return scrambled(task, int(parts[2])) if len(parts) > 2 else task
    if parts[0].endswith((".npz", ".jsonl", ".json")):
        task = resolve_task(parts[0])
        return scrambled(task, int(parts[1])) if len(parts) > 1 else task
    scramble = None if len(parts) < 3 or parts[2] == "-" else int(parts[2])
    return resolve_task(parts[0], int(parts[1]), scramble=scramble)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--seed", default="0", help="profile seed(s), comma-separated: each case runs under each")
    ap.add_argument("--name", default="profiling/learnability")
    add_rerun_option(ap)
    args = ap.parse_args()
    check = CheckConfig()
    cache = RunCache(args.name, KEY)
    for case, seed in [(c, int(s)) for s in args.seed.split(",") for c in args.cases.split(",")]:
        fields = {"case": case, "seed": seed, "orders": check.orders, "agreement": check.agreement,
                  "pattern_z": check.pattern_z, "learned_share": check.learned_share, "max_factor": check.max_factor}

        def run(case=case, seed=seed) -> dict:
            task = parse_case(case)
            start = time.perf_counter()
            probe = probe_dependencies(task)
            config = config_from_preset(preset_for("cpu", task), seed=seed, device="cpu")
            seeds = [probe.order] if probe.explained else []
            result = check_learnability(task, config, seed_orders=seeds, check=check)
            # noise has no import path; a file or generator is named as given (relative, not this checkout's path)
            label = task.name if case.startswith("noise:") else case if "." in case else spec_label(task.spec())
            return {"task": label, "L": task.length, "probe_explained": probe.explained,
                    **result.to_dict(), "line": result.line(), "total_seconds": round(time.perf_counter() - start, 1)}

        rec = cache.run(fields, run, rerun=args.rerun)
        print(rec["line"], flush=True)
    records = list(cache.records.values())
    rows = []
    for rec in records:
        for r in rec["rounds"]:
            rows.append([rec["task"], rec["L"], rec["seed"], r["steps"], f"{r['agreement']:.2f}",
                         f"{r.get('pattern', 0.0):.2f} (z {r.get('pattern_z', 0.0):.1f})",
                         ", ".join(f"y{j}" for j in r["informative"]) or "-", f"{round(100 * r['best_gap'])}%",
                         "yes" if r["signal"] else "no", f"{r['seconds']:.0f}"])
        rows[-1][-1] += f" ({rec['verdict']}, steps {rec['steps']}{', probe explains' if rec['probe_explained'] else ''})"
    path = write_table(
        args.name, "Learnability check: do short profiles tell a task's orders apart?",
        ["task", "L", "seed", "profile steps", "rank agreement of 2 seeds", "pattern agreement of 2 seeds",
         "targets learned by some orders only",
         "best order below plateau", "signal", "seconds (verdict)"], rows, records=records,
        notes=f"Panel of {check.orders} orders (forward, reverse, the probe's order when it explains every target, "
              f"random ones), cpu preset profile model, two profile seeds. Signal: a target learned (loss below "
              f"{check.learned_share:g} x its entropy) under some panel orders and not others in both seeds, a rank "
              f"agreement (Spearman) of at least {check.agreement:g}, or a pattern agreement (each target's loss "
              f"standardised across the panel, the seeds' patterns correlated) of at least {check.pattern_z:g} null "
              "standard deviations (orders shuffled). Without signal the profile is doubled, up to "
              f"{check.max_factor}x its steps. A search whose check ends with \"no order learned\" runs nothing, unless "
              "the dependency probe explains every target (\"probe explains\"); it then searches from the probe's "
              "order. The noise rows are the false-alarm check: targets drawn apart from the inputs must show no "
              "signal at any length. "
              + host_notes(records),
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
