"""Does loss profiling put the forward order first among 1 + 127 (or --others) random orders?

Run:  python benchmarks/profiling_rank.py                       # square L=8,10,12 and relu L=16, seeds 0-2
      python benchmarks/profiling_rank.py --signals none,index --cases square:8,square:10 --seeds 0 --out profiling_signal
      python benchmarks/profiling_rank.py --spearman square:8 --seeds 0   # retrain top-8 + 8 random orders
      python benchmarks/profiling_rank.py --cases prod:6,delay:8:0 --seeds 0 \
             --steps 600,1200,2400,4800 --out profile_length    # how long until the profile separates
      python benchmarks/profiling_rank.py --cases delay:8:0 --seeds 0,1,2 --others 1 --steps 1500 \
             --profile-model final --out profile_small_mixture   # a small mixture: more data per order
      python benchmarks/profiling_rank.py --cases delay:8:0 --seeds 0,1,2 --others 0 --steps 3000 \
             --profile-model final --train final --out profile_plateau  # friendly alone
      python benchmarks/profiling_rank.py --cases prod:6,prod:8 --seeds 0,1,2 --task-option sparse_profiles=0 \
             --out profile_prod_uniform                          # a task option for every case
Each table's own header gives the command that made it; add --rerun to make it again under today's code.
Writes benchmarks/results/profiling_rank.md (or --out NAME, or profiling_spearman.md).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from _common import RunCache, add_rerun_option, in_topic, shown, write_table
from scipy.stats import spearmanr

from orderopt.orders import format_order, identity, random_orders
from orderopt.presets import get_preset, preset_for
from orderopt.profiling import config_from_preset, profile, screen_size
from orderopt.tasks import ScrambledTask, make_task
from orderopt.training import success_rate, train


OTHERS = 127  # random orders beside the friendly one, unless --others says otherwise
LEARNED = 0.1  # a target counts as learned under an order when its validation loss is below this (nats)


def _option(text: str) -> tuple[str, float]:
    """``KEY=VALUE`` of ``--task-option`` (numeric values, as the built-in tasks' options are)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--task-option wants KEY=VALUE, got {text!r}")
    return key.strip(), float(value)


def candidates(task, seed: int, others: int = OTHERS) -> list[tuple[int, ...]]:
    """The task's friendly order (forward, or its relabelling on a scrambled task) and ``others``
    random ones."""
    first = task.parse_order("friendly") if isinstance(task, ScrambledTask) else identity(task.length)
    return [first, *random_orders(task.length, others, seed, exclude=[first])]


def _screen_key(config, n_orders: int) -> int | None:
    """Samples per order in the final screen, None for the 16 of runs made before screens had a budget."""
    if config.validation != "halving":
        return None
    n = screen_size(config, n_orders)
    return None if n == 16 else n


def falls_at(steps: list[int], curve: list[float]) -> int | None:
    """First checkpoint at which a loss curve is below half its first checkpoint's value: when a
    plateau was left (``None``: never in the run)."""
    return next((s for s, v in zip(steps, curve) if v < 0.5 * curve[0]), None)


def _row(rec: dict) -> list:
    others = sorted(rec["scores"][1:])
    label = rec["task"] if rec.get("scramble") is None else f"{rec['task']} scramble {rec['scramble']}"
    label += f" ({rec['model']} model)" if rec.get("model") else ""
    label += f" ({rec['train']} training)" if rec.get("train") else ""
    label += "".join(f" ({k}={v:g})" for k, v in sorted((rec.get("options") or {}).items()))
    if "curve" in rec:
        fell = falls_at(rec["curve_steps"], rec["curve"])
        falls = "never" if fell is None else fell
    else:
        falls = "n/r"
    if "learned" in rec:  # targets learned by the friendly order / by the best other order
        learned = f"{rec['learned'][0]} / {max(rec['learned'][1:], default='-')}"
    else:
        learned = "n/r"
    if others:
        median = float(np.median(others))
        spread = [f"{others[0]:.4f}", f"{median:.4f}", f"{100 * (median - others[0]) / median:.1f}%"]
    else:
        spread = ["-", "-", "-"]
    screen = "all" if rec.get("validation") == "full" else (rec.get("screen") or 16)
    return [label, rec["L"], rec["signal"], rec["seed"], rec["steps"], len(rec["scores"]), rec["rank"],
            f"{rec['scores'][0]:.4f}", falls, learned, *spread, screen, f"{rec['seconds']:.0f}"]


def rank_check(args: argparse.Namespace) -> None:
    preset = get_preset(args.preset)
    step_list = [None] if args.steps is None else [int(v) for v in args.steps.split(",")]
    # "others" is None for the default, so records made before the option existed still match
    # "screen" (samples per order in the last checkpoint's screen) is None where it was 16, as
    # before the screen had a budget, so those runs still match
    cache = RunCache(args.out, ("task", "L", "scramble", "signal", "seed", "steps", "validation", "screen", "model",
                                "others", "train", "options"))
    # task options given on the command line (e.g. prod's sparse_profiles=0); None when none, so
    # runs cached before the option existed still match
    options = dict(_option(o) for o in args.task_option) or None
    others = None if args.others == OTHERS else args.others
    shapes = args.profile_model.split(",")
    for case in args.cases.split(","):
        name, length, *rest = case.split(":")
        scramble = int(rest[0]) if rest and rest[0] != "-" else args.scramble
        task = make_task(name, int(length), scramble=scramble, **(options or {}))
        for signal in args.signals.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                for shape, steps in ((m, st) for m in shapes for st in step_list):
                    # the task's own recipe (e.g. prod's longer profiles) unless --steps says otherwise
                    config = config_from_preset(preset_for(preset.name, task), signal=signal, seed=seed, steps=steps,
                                                screen_budget=args.screen_budget)
                    if shape == "final":  # the final model's shape as profile model
                        config = replace(config, model=preset.final_model)
                    if args.train == "final":  # the final training's settings, for the profile's steps
                        config = replace(config, train=replace(preset.final_train, seed=seed,
                                                               steps=config.train.total_steps()))
                    orders = candidates(task, seed, args.others)

                    def run(task=task, orders=orders, config=config) -> dict:
                        t0 = time.perf_counter()
                        res = profile(task, orders, config, progress=False)
                        return {"seconds": time.perf_counter() - t0, "rank": res.rank_of(orders[0]),
                                "scores": [round(float(s), 6) for s in res.scores],
                                "curve_steps": list(res.steps),
                                "curve": [round(float(v), 6) for v in res.curves[:, 0]],
                                "learned": [int(n) for n in (res.position_scores < LEARNED).sum(axis=1)]}

                    rec = cache.run({"task": name, "L": task.length, "scramble": scramble, "signal": signal,
                                     "seed": seed, "steps": config.train.total_steps(),
                                     "validation": config.validation,
                                     "screen": _screen_key(config, len(orders)),
                                     "model": None if shape == "profile" else shape, "others": others,
                                     "train": None if args.train == "profile" else args.train,
                                     "options": options}, run, rerun=args.rerun)
                    print(" | ".join(map(str, _row(rec))), flush=True)
    # the table holds every cached run of these cases (any steps and model), so sweeps add up
    wanted = {(c.split(":")[0], int(c.split(":")[1]),
               int(c.split(":")[2]) if len(c.split(":")) > 2 and c.split(":")[2] != "-" else args.scramble)
              for c in args.cases.split(",")}
    signals, seeds = set(args.signals.split(",")), {int(s) for s in args.seeds.split(",")}
    cases = [tuple(c.split(":")[:2]) for c in args.cases.split(",")]
    # under --rerun only this version's runs: a sweep of older code (another screen, say) drops out
    recs = shown([r for r in cache.records.values() if (r["task"], r["L"], r.get("scramble")) in wanted
                  and r["signal"] in signals and r["seed"] in seeds], args.rerun)
    recs.sort(key=lambda r: (cases.index((r["task"], str(r["L"]))), r.get("scramble") or 0, r["signal"],
                             r.get("model") or "", -len(r["scores"]), r["seed"], r["steps"]))
    rows = [_row(r) for r in recs]
    first = sum(1 for r in rows if r[6] == 1 and r[5] > 1)
    mixtures = sum(1 for r in rows if r[5] > 1)
    scrambled = args.scramble is not None or any(len(c.split(":")) > 2 for c in args.cases.split(","))
    write_table(
        args.out,
        f"{'Friendly' if scrambled else 'Forward'}'s rank among 1 + N random orders "
        f"(mixture profiling, preset {preset.name}{'' if args.scramble is None else f', scramble {args.scramble}'})",
        ["task", "L", "signal", "seed", "steps", "orders", *(f"{'friendly' if scrambled else 'forward'} {c}"
                                                   for c in ("rank", "score")),
         "falls at", "targets learned", "best other", "median other", "others' spread", "screen", "seconds"],
        rows, records=recs,
        notes=(f"{'Friendly (relabelled forward; forward on unscrambled tasks)' if scrambled else 'Forward'} ranked first "
               f"in {first} of {mixtures} mixture runs. " if mixtures else "") + "Scores: mean validation cross-entropy per "
        f"target token after the given steps ({config.val_per_order} validation samples per order, "
        f"`{config.validation}` validation: see profiling_throughput.md; 'screen' = validation samples per order that "
        "decided which orders were scored on all of them, `orderopt.profiling.screen_size`). "
        f"Each run is cached in {args.out}.jsonl. "
        "Random orders: `random_orders(L, N, seed, exclude=[forward])`, N = orders - 1 (127 unless a run set "
        "`--others`: a smaller mixture gives each order more of the run's data). Others' spread = (median - best) / median "
        "over the N random orders: how far apart the orders already are (a flat profile has none). `prod`'s "
        "forward is lsd-first. `(final model)`: the preset's final model shape used as profile model. Seconds are "
        "wall time; 'falls at' = the first checkpoint where the friendly order's loss is below half its "
        "first checkpoint's (when the plateau was left); "
        f"'targets learned' = how many of the L targets have a validation loss below {LEARNED} under the friendly "
        "order / under the other order that learned most: a target that no order has learned yet cannot tell orders "
        "apart. A run with 0 others profiles the friendly order alone. Runs made two at a time on the 2 cores (each "
        "on 1 torch thread) take about twice the seconds of a lone run.",
    )


def spearman(args: argparse.Namespace) -> None:
    """Profile 1 + 127 orders, then fully train the top 8 and 8 random others and correlate."""
    name, length = args.spearman.split(":")
    task = make_task(name, int(length))
    preset = get_preset(args.preset)
    seed = int(args.seeds.split(",")[0])
    steps = None if args.steps is None else int(args.steps.split(",")[0])
    res = profile(task, candidates(task, seed), config_from_preset(preset, seed=seed, steps=steps), progress=False)
    ranking = res.ranking()
    rng = np.random.default_rng(seed)
    rest = ranking[8:]
    picked = ranking[:8] + [rest[i] for i in sorted(rng.choice(len(rest), size=8, replace=False))]
    train_cfg = preset.final_train
    splits = task.splits(train_cfg.n_train, train_cfg.n_val, train_cfg.n_test, seed=train_cfg.seed)
    # Each full training is cached (one JSON line per order) so that an interrupted run resumes.
    cache = RunCache(f"profiling/profiling_spearman-{name}-L{task.length}-seed{seed}", ("order",))
    done = {}
    rows, scores, successes = [], [], []
    for rank, order, score in picked:
        def train_it(order=order, rank=rank, score=score) -> dict:
            result = train(task, order, preset.final_model, train_cfg, splits=splits, progress=False)
            return {"rank": rank, "score": score,
                    "success": success_rate(result.model, splits.x_test, splits.y_test, order).success_rate}

        done[order] = cache.run({"order": list(order)}, train_it, rerun=args.rerun)["success"]
        rows.append([rank, format_order(order), f"{score:.4f}", f"{done[order]:.3f}"])
        scores.append(score)
        successes.append(done[order])
        print(" | ".join(map(str, rows[-1])), flush=True)
    rho = spearmanr(scores, successes).statistic
    write_table(
        "profiling/profiling_spearman",
        f"Profile score vs success after full training ({name}, L={task.length}, preset {preset.name})",
        ["profile rank", "order", "profile score", "success (exact match)"],
        rows, records=[cache.get({"order": list(order)}) for _, order, _ in picked],
        notes=f"Spearman correlation between profile score and success: **{rho:.3f}** over {len(rows)} orders "
        "(lower score should mean higher success, so a strongly negative value means the profile predicts learnability).",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="square:8,square:10,square:12,relu:16")
    ap.add_argument("--signals", default="index")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", default=None, help="profile steps, comma-separated for several (default: the "
                    "preset's, with the task's recipe: orderopt.presets.preset_for)")
    ap.add_argument("--scramble", type=int, default=None, help="relabel every task's targets by this seed; the "
                    "friendly order (relabelled forward) then takes forward's place")
    ap.add_argument("--profile-model", default="profile",
                    help="profile, final or both (comma-separated): the preset's profile model or its final "
                    "model's shape as profile model")
    ap.add_argument("--train", choices=("profile", "final"), default="profile",
                    help="training settings (lr, warmup, data) of the preset's profile or final training")
    ap.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                    help="a task option for every case, e.g. sparse_profiles=0 (prod's profiles on uniform rows)")
    ap.add_argument("--screen-budget", type=int, default=None,
                    help="(order, sample) pairs per validation screen (default: orderopt's; 1 screens every "
                    "order on 16 samples, as before screens had a budget)")
    ap.add_argument("--others", type=int, default=OTHERS, help="random orders beside the friendly one in each profile")
    ap.add_argument("--spearman", default=None, help="TASK:L: retrain the top 8 and 8 random orders")
    ap.add_argument("--out", default="profiling_rank", help="name of the results file (without .md)")
    add_rerun_option(ap)
    args = ap.parse_args()
    args.out = in_topic("profiling", args.out)
    spearman(args) if args.spearman else rank_check(args)


if __name__ == "__main__":
    main()
