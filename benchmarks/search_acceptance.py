"""End-to-end order search from random initial orders, verified by full training.

Run:  python benchmarks/search_acceptance.py --task square --length 8 --seeds 0,1,2
      python benchmarks/search_acceptance.py --task prod --length 8 --seeds 0 --verify-top 1 --verify-random 0
Each seed is the study `TASK-L<L>-mixture-seed<S>` in the storage (default: the embedded SQLite
file `storage/orderopt.db`, the same one `orderopt search` uses), so the studies made by
`orderopt search --task square --length 8 --seed S --verify` are resumed, not recomputed: the
search stops when its schedule is done and the verification skips orders it already trained.
Under --rerun a seed it searches again starts from a new study: resuming one that another version
of the code (or an interrupted run) left would mix versions and stretch the measured span.
Writes benchmarks/results/search_<task>_L<L>.md. Search time is the span from the first
trial's start to the last trial's end, read from storage; the learnability check that sets the
profile length before the first trial is timed apart ("check min", where recorded). Every seed's
row is cached in results/search_<task>_L<L>.jsonl (by preset, seed and the verification counts),
so seeds run by separate commands fill one table and a finished seed is not searched again.
"""

from __future__ import annotations

import argparse

from _common import (DISCOVERY_TOLERANCE, RunCache, add_rerun_option, discard_study, host_notes, shown,
                     write_table)

from orderopt.orders import format_order, kendall_tau_distance
from orderopt.storage import get_storage
from orderopt.studies import (best_orders, create_study, default_study_name, learnability_of, read_verification, search,
                               verify)
from orderopt.tasks import make_task


KEY = ("preset", "seed", "verify_top", "verify_random")


def search_seed(task, args, seed: int) -> dict:
    """Search (resuming the seed's study, except under --rerun), verify, and return the row's values."""
    forward = task.parse_order("forward")
    if args.rerun:
        discard_study(default_study_name(task, "mixture", seed), get_storage(args.storage))
    study = create_study(task, storage=args.storage, preset=args.preset, seed=seed)
    search(study, progress=False)
    if not args.no_verify:
        verify(study, top=args.verify_top, n_random=args.verify_random, jobs=args.jobs, progress=False)
    trials = [t for t in study.trials if t.datetime_start and t.datetime_complete]
    span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
    ver = {r.label: r.success for r in read_verification(study)}
    order = best_orders(study, 1)[0][0]  # found #1: the tournament's pick, as the CLI reports it
    check = learnability_of(study) or {}
    return {"search_min": round(span / 60, 2), "orders": len(trials), "found": list(order),
            "check_min": round(check["seconds"] / 60, 2) if "seconds" in check else None,
            "kendall_to_forward": kendall_tau_distance(order, forward), "success": ver}


def row_of(rec: dict) -> list:
    """A table row from a cached seed record."""
    ver = rec["success"]

    def success(label: str) -> str:
        return f"{ver[label]:.3f}" if label in ver else "-"

    found = [success(f"found #{i}") for i in range(1, rec["verify_top"] + 1)]
    discovered = "-"
    if "found #1" in ver and "forward" in ver:
        discovered = "yes" if ver["found #1"] >= ver["forward"] - DISCOVERY_TOLERANCE else "no"
    randoms = [success(f"random:{i}") for i in range(rec["verify_random"])]
    check = f"{rec['check_min']:.1f}" if rec.get("check_min") is not None else "-"
    return [rec["seed"], check, f"{rec['search_min']:.1f}", rec["orders"], format_order(rec["found"]),
            rec["kendall_to_forward"], " / ".join(found) or "-", success("forward"), discovered, success("reverse"),
            " / ".join(randoms) or "-"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="square")
    ap.add_argument("--length", type=int, default=8)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--storage", default=None)
    ap.add_argument("--verify-top", type=int, default=3)
    ap.add_argument("--verify-random", type=int, default=3)
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--jobs", type=int, default=None, help="verification trainings at once (default: one per core)")
    add_rerun_option(ap)
    args = ap.parse_args()
    task = make_task(args.task, args.length)
    cache = RunCache(f"search/search_{args.task}_L{args.length}", KEY)
    for seed in (int(s) for s in args.seeds.split(",")):
        fields = {"preset": args.preset, "seed": seed, "verify_top": 0 if args.no_verify else args.verify_top,
                  "verify_random": 0 if args.no_verify else args.verify_random}
        rec = cache.run(fields, lambda: search_seed(task, args, seed), rerun=args.rerun)
        print(" | ".join(map(str, row_of(rec))), flush=True)
    recs = shown(sorted((r for r in cache.records.values() if r["preset"] == args.preset), key=lambda r: r["seed"]),
                 args.rerun)
    write_table(
        f"search/search_{args.task}_L{args.length}",
        f"Order search from random initialisation ({task.describe()}, preset {args.preset}, mixture rounds)",
        ["seed", "check min", "search min", "orders profiled", "found #1", "Kendall distance to forward",
         "success found #1..", "forward", "discovered", "reverse", "random baselines"],
        [row_of(rec) for rec in recs], records=recs,
        notes=host_notes(recs, lambda r: f"seed {r['seed']}") + " Success = exact match on the test split "
        "after full training of the preset's final model (`verify`); discovered = found #1 within "
        f"{DISCOVERY_TOLERANCE} of forward. Check minutes are the learnability check's (before the first trial; "
        "'-' where not recorded). Search minutes are wall time on this machine (they include any "
        "wait for the CPU when another job ran beside the search). Rows are cached in the .jsonl next to this file.",
    )


if __name__ == "__main__":
    main()
