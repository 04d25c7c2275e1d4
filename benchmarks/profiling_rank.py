"""Does loss profiling put the forward order first among 1 + 127 random orders?

Run:  python benchmarks/profiling_rank.py                       # square L=8,10,12 and relu L=16, seeds 0-2
      python benchmarks/profiling_rank.py --signals none,index --cases square:8,square:10 --seeds 0 --out profiling_signal
      python benchmarks/profiling_rank.py --spearman square:8    # retrain top-8 + 8 random orders
Writes benchmarks/results/profiling_rank.md (or --out NAME, or profiling_spearman.md).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import RunCache, write_table
from scipy.stats import spearmanr

from orderopt.orders import format_order, identity, random_orders
from orderopt.presets import get_preset
from orderopt.profiling import config_from_preset, profile
from orderopt.tasks import make_task
from orderopt.training import success_rate, train


def candidates(length: int, seed: int) -> list[tuple[int, ...]]:
    fwd = identity(length)
    return [fwd, *random_orders(length, 127, seed, exclude=[fwd])]


def rank_check(args: argparse.Namespace) -> None:
    preset = get_preset(args.preset)
    rows = []
    for case in args.cases.split(","):
        name, length = case.split(":")
        task = make_task(name, int(length))
        for signal in args.signals.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                config = config_from_preset(preset, signal=signal, seed=seed, steps=args.steps)
                orders = candidates(task.length, seed)
                t0 = time.perf_counter()
                res = profile(task, orders, config, progress=False)
                seconds = time.perf_counter() - t0
                others = sorted(s for _, o, s in res.ranking() if o != orders[0])
                row = [name, task.length, signal, seed, res.rank_of(orders[0]), f"{res.score_of(orders[0]):.4f}",
                       f"{others[0]:.4f}", f"{np.median(others):.4f}", f"{seconds:.0f}"]
                print(" | ".join(map(str, row)), flush=True)
                rows.append(row)
    first = sum(1 for r in rows if r[4] == 1)
    write_table(
        args.out,
        f"Forward's rank among 1 + 127 random orders (mixture profiling, preset {preset.name})",
        ["task", "L", "signal", "seed", "forward rank", "forward score", "best other", "median other", "seconds"],
        rows,
        notes=f"Forward ranked first in {first} of {len(rows)} runs. Scores: mean validation cross-entropy per "
        f"target token after {config.train.total_steps()} steps ({config.val_per_order} validation samples per order). "
        "Random orders: `random_orders(L, 127, seed, exclude=[forward])`.",
    )


def spearman(args: argparse.Namespace) -> None:
    """Profile 1 + 127 orders, then fully train the top 8 and 8 random others and correlate."""
    name, length = args.spearman.split(":")
    task = make_task(name, int(length))
    preset = get_preset(args.preset)
    seed = int(args.seeds.split(",")[0])
    res = profile(task, candidates(task.length, seed), config_from_preset(preset, seed=seed, steps=args.steps), progress=False)
    ranking = res.ranking()
    rng = np.random.default_rng(seed)
    rest = ranking[8:]
    picked = ranking[:8] + [rest[i] for i in sorted(rng.choice(len(rest), size=8, replace=False))]
    train_cfg = preset.final_train
    splits = task.splits(train_cfg.n_train, train_cfg.n_val, train_cfg.n_test, seed=train_cfg.seed)
    # Each full training is cached (one JSON line per order) so that an interrupted run resumes.
    cache = RunCache(f"profiling_spearman-{name}-L{task.length}-seed{seed}", ("order",))
    done = {}
    rows, scores, successes = [], [], []
    for rank, order, score in picked:
        def train_it(order=order, rank=rank, score=score) -> dict:
            result = train(task, order, preset.final_model, train_cfg, splits=splits, progress=False)
            return {"rank": rank, "score": score,
                    "success": success_rate(result.model, splits.x_test, splits.y_test, order).success_rate}

        done[order] = cache.run({"order": list(order)}, train_it)["success"]
        rows.append([rank, format_order(order), f"{score:.4f}", f"{done[order]:.3f}"])
        scores.append(score)
        successes.append(done[order])
        print(" | ".join(map(str, rows[-1])), flush=True)
    rho = spearmanr(scores, successes).statistic
    write_table(
        "profiling_spearman",
        f"Profile score vs success after full training ({name}, L={task.length}, preset {preset.name})",
        ["profile rank", "order", "profile score", "success (exact match)"],
        rows,
        notes=f"Spearman correlation between profile score and success: **{rho:.3f}** over {len(rows)} orders "
        "(lower score should mean higher success, so a strongly negative value means the profile predicts learnability).",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="square:8,square:10,square:12,relu:16")
    ap.add_argument("--signals", default="index")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--spearman", default=None, help="TASK:L: retrain the top 8 and 8 random orders")
    ap.add_argument("--out", default="profiling_rank", help="name of the results file (without .md)")
    args = ap.parse_args()
    spearman(args) if args.spearman else rank_check(args)


if __name__ == "__main__":
    main()
