"""Command line: ``orderopt tasks | train | profile | search | worker``.

Every :class:`~orderopt.errors.OrderoptError` is printed as one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Sequence

from orderopt import __version__
from orderopt.errors import ConfigError, OrderoptError
from orderopt.orders import format_order
from orderopt.presets import PRESETS
from orderopt.profiling import MODES, SIGNALS
from orderopt.samplers._hierarchical import INIT_MODES
from orderopt.studies._spec import PRIORS, PRUNINGS, SEARCH_MODES

__all__ = ["main", "build_parser"]

STORAGE_HELP = ("Optuna storage URL (default: $OPTUNA_STORAGE, else the embedded SQLite file "
                "sqlite:///storage/orderopt.db)")


def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout (the tables and progress go to stderr)")


def _presets() -> str:
    return ", ".join(PRESETS)


def _task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help="built-in task name, dataset file (.npz/.jsonl) or module:function")
    p.add_argument("--length", type=int, default=None, help="number of targets L (default 8 for built-in tasks)")
    p.add_argument("--window", type=int, default=None, help="index task: window d")
    p.add_argument("--variables", type=int, default=None, help="delay task: number of variables")
    p.add_argument("--delay", type=int, default=None, help="delay task: cross-variable delay")
    p.add_argument("--mlp-seed", type=int, default=None, help="mlp task: seed of the random MLP")
    p.add_argument("--sparse-operands", type=float, default=None, metavar="SHARE",
                   help="prod task: share of training rows whose operand digits are zeroed at random (default 0.5; "
                        "0 trains on uniform operands only)")
    p.add_argument("--sparse-profiles", type=float, default=None, metavar="SHARE",
                   help="prod task: share of loss-profiling rows (training and validation) whose operand digits are "
                        "zeroed at random (default 1: early losses then show partly learned middle digits)")
    p.add_argument("--sparse-zero", type=float, default=None, metavar="P",
                   help="prod task: chance that an operand digit of a sparse row is zeroed (default 0.3)")
    p.add_argument("--scramble", type=int, default=None, metavar="SEED",
                   help="relabel the target indices by a random permutation drawn from SEED, so that no order is "
                        "privileged by the task's own numbering; the order 'friendly' is the relabelled forward")


def _task_from_args(args: argparse.Namespace):
    from orderopt.tasks import resolve_task

    return resolve_task(
        args.task, args.length, window=args.window, variables=args.variables,
        delay=args.delay, mlp_seed=args.mlp_seed, sparse_operands=args.sparse_operands,
        sparse_profiles=args.sparse_profiles, sparse_zero=args.sparse_zero, scramble=args.scramble,
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``orderopt`` argument parser; choices come from the registries (modes, signals, presets, ...)."""
    parser = argparse.ArgumentParser(
        prog="orderopt", description="Find learning-friendly generation orders for sequential computation."
    )
    parser.add_argument("--version", action="version", version=f"orderopt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("tasks", help="list built-in tasks and their formulas")

    p = sub.add_parser("train", help="train a model on one or more orders and report exact-match success")
    _task_args(p)
    p.add_argument(
        "--order", action="append", default=None,
        help="forward, reverse, random:SEED, a task-specific name or a list like 3,1,0,2 (repeatable; default forward)",
    )
    p.add_argument("--preset", default="cpu", help=f"{_presets()}: its final model and training (default cpu)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the preset's)")
    p.add_argument("--batch-size", type=int, default=None, help="samples per step (default: the preset's)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the preset's)")
    p.add_argument("--hold", type=float, default=None, metavar="SHARE",
                   help="share of the steps after warmup held at the peak learning rate before its linear "
                        "decay to 0 (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="seed for data, initialisation and batches")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--jobs", type=int, default=None,
                   help="trainings at once (default: one per CPU core, 1 on CUDA; scores do not depend on it)")
    p.add_argument("--output", default=None, metavar="DIR",
                   help="save each trained model to DIR/<order>/ (model.pt: weights and config, loadable with "
                        "orderopt.training.load_checkpoint; config.json: task, order, settings, curve, success)")
    _json_arg(p)

    p = sub.add_parser("profile", help="rank candidate orders by the validation loss of one short training run")
    _task_args(p)
    p.add_argument("--orders", default="forward,reverse",
                   help="named orders and/or explicit lists, comma separated (e.g. forward,reverse,3,1,0,2)")
    p.add_argument("--random", type=int, default=0, help="add this many distinct random orders")
    p.add_argument("--mode", default="mixture", choices=list(MODES),
                   help="mixture: one model trained on all orders at once (default); separate: one model per "
                        "order; batched: one model per order, vectorised")
    p.add_argument("--signal", default="index", choices=list(SIGNALS),
                   help="mixture only: tell the model the target indices (default) or not")
    p.add_argument("--preset", default="cpu", help=f"{_presets()}: its profile model (default cpu)")
    p.add_argument("--steps", type=int, default=None, help="profile training steps (default: the preset's)")
    p.add_argument("--val-per-order", type=int, default=None, help="validation samples scoring each order")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the random orders and the training")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N")
    p.add_argument("--top", type=int, default=20, help="rows of the ranked table to print")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _json_arg(p)

    p = sub.add_parser("probe", help="which few tokens determine each target, read from the task's data by counting")
    _task_args(p)
    p.add_argument("--samples", type=int, default=None, help="samples generated (half counted, half scored) [60000]")
    p.add_argument("--max-parents", type=int, default=None, help="largest set of tokens tried per target [3]")
    p.add_argument("--seed", type=int, default=0, help="seed of the data")
    _json_arg(p)

    p = sub.add_parser("search", help="search a learning-friendly order (Optuna study; re-run to resume)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _task_args(p)
    p.add_argument("--storage", default=None, help=STORAGE_HELP)
    p.add_argument("--study", default=None, help="study name (default: TASK-L<L>-MODE-seed<S>)")
    p.add_argument("--budget-minutes", type=float, default=None,
                   help="after this many minutes no new local round starts; the tournament still runs")
    p.add_argument("--n-trials", type=int, default=None,
                   help="trials (profiled orders) to run in this call; beyond the schedule they explore")
    settings = p.add_argument_group("search settings (stored in the study; default: the study's, or for a new "
                                    "study the value in brackets)")
    settings.add_argument("--preset", default=None, help=f"{_presets()}: its profile model scores orders [cpu]")
    settings.add_argument("--mode", default=None, choices=list(SEARCH_MODES),
                          help="mixture: one profile per round of orders; trial: one profile per order [mixture]")
    settings.add_argument("--seed", type=int, default=None, help="seed of the schedule and the profiles [0]")
    settings.add_argument("--init", default=None, choices=list(INIT_MODES), help="initial orders [random]")
    settings.add_argument("--levels", type=int, default=None, help="global levels K (block splits 2..K) [3]")
    settings.add_argument("--steps", type=int, default=None, help="profile training steps [the preset's]")
    settings.add_argument("--population", type=int, default=None, help="random orders of the first round [the preset's mixture size: 512, prod 128]")
    settings.add_argument("--round-size", type=int, default=None, help="new orders per round at most [the preset's mixture size: 512, prod 128]")
    settings.add_argument("--incumbents", type=int, default=None,
                          help="best orders whose neighbourhoods a local round explores [4]")
    settings.add_argument("--patience", type=int, default=None,
                          help="stop the local rounds after this many rounds without a new best order [2]")
    settings.add_argument("--references", type=int, default=None,
                          help="best orders profiled again in every round; the first round's stay on as the panel that "
                               "puts every round on one scale [4]")
    settings.add_argument("--tournament-size", type=int, default=None,
                          help="best orders re-profiled together at the end to pick found #1, with up to half as many "
                               "round winners (0 = none) [16]")
    settings.add_argument("--tournament-runs", type=int, default=None,
                          help="tournament runs, each with another profile seed [2]")
    settings.add_argument("--model-proposals", type=int, default=None,
                          help="orders per round proposed from the per-target losses (precedence model) [32]")
    settings.add_argument("--prior", default=None, choices=list(PRIORS),
                          help="dependency: first read from the task's data which few tokens determine each "
                               "target, and seed the search with the order that follows them (see the README) "
                               "[dependency]")
    settings.add_argument("--pruning", default=None, choices=list(PRUNINGS),
                          help="rank: drop the worse half of a round from mid-training on [none in mixture, rank in "
                               "trial mode]")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N")
    p.add_argument("--top", type=int, default=10, help="rows of the best-orders table")
    p.add_argument("--workers", type=int, default=1, help="local worker processes sharing the study")
    p.add_argument("--verify", action="store_true",
                   help="then fully train the best orders and baselines (forward, reverse, random orders)")
    p.add_argument("--verify-top", type=int, default=3, help="best orders to verify")
    p.add_argument("--verify-random", type=int, default=3, help="random baseline orders to verify")
    p.add_argument("--verify-jobs", type=int, default=None,
                   help="verification trainings at once (default: one per CPU core, 1 on CUDA)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _json_arg(p)

    p = sub.add_parser("worker", help="join a running search by study name and storage URL")
    p.add_argument("--study", required=True, help="name of the study to join (made by `orderopt search`)")
    p.add_argument("--storage", default=None, help=STORAGE_HELP)
    p.add_argument("--n-trials", type=int, default=None,
                   help="stop after this many trials (default: when the study's schedule is done)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N")
    p.add_argument("--top", type=int, default=10, help="rows of the best-orders table")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--trust-import", action="append", default=[], metavar="MODULE:FUNCTION",
                   help="let this worker import the study's task generator (a study stored by someone else "
                        "cannot make a worker run code unless trusted; also $ORDEROPT_TRUSTED_IMPORTS)")

    p = sub.add_parser("report", help="best orders, stage-by-stage history and verification of a study")
    p.add_argument("--study", required=True, help="name of the study to report")
    p.add_argument("--storage", default=None, help=STORAGE_HELP)
    p.add_argument("--top", type=int, default=10, help="rows of the best-orders table")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="also save the figures as a PNG file (and attach it to the study as an artifact)")
    _json_arg(p)

    p = sub.add_parser("dashboard", help="serve optuna-dashboard for a storage (refreshes orderopt notes first)")
    p.add_argument("--storage", default=None, help=STORAGE_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port to serve on (default 8080)")
    return parser


def cmd_tasks(args: argparse.Namespace) -> int:
    """``orderopt tasks``: list the built-in tasks with their formulas and named orders."""
    from orderopt.presets import TASK_RECIPES
    from orderopt.tasks import list_tasks

    for task in list_tasks():
        orders = ", ".join(task.known_orders())
        print(f"{task.name:<9} {task.formula}")
        print(f"{'':<9} vocab {task.vocab_size}, default L={task.length}; orders: {orders}")
        for (preset, name), (_, why) in TASK_RECIPES.items():
            if name == task.name:
                print(f"{'':<9} preset {preset}: {why}")
    print("\nUser tasks: --task data.npz | data.jsonl ({'input': [...], 'target': [...]}) | module:function")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    """``orderopt probe``: the dependency probe a new search starts with, on its own."""
    from dataclasses import replace

    from orderopt.dependency import ProbeConfig, probe_dependencies

    task = _task_from_args(args)
    config = ProbeConfig(seed=args.seed)
    if args.samples is not None:
        if args.samples < 100:
            raise ConfigError(f"--samples must be >= 100, got {args.samples}")
        config = replace(config, n_samples=args.samples)
    if args.max_parents is not None:
        if not 1 <= args.max_parents <= 4:
            raise ConfigError(f"--max-parents must be 1-4, got {args.max_parents}")
        config = replace(config, max_parents=args.max_parents)
    result = probe_dependencies(task, config)
    print(f"{'target':>6}  {'entropy':>7}  {'alone':>6}  determined by")
    for j in range(task.length):
        mark = "" if result.entropy[j] < config.explained_nats else "  (not determined)"
        print(f"{'y' + str(j):>6}  {result.entropy[j]:7.3f}  {result.baseline[j]:6.3f}  "
              f"{', '.join(result.parents[j]) or '-'}{mark}")
    verdict = "every target determined" if result.explained else "not every target determined"
    print(f"\norder {format_order(result.order)} ({verdict}; {result.evaluations} sets in {result.seconds:.1f} s)")
    for note in result.notes:
        print(note)
    args.payload = {"task": task.spec(), "order": list(result.order), "explained": result.explained,
                    "parents": [list(p) for p in result.parents], "entropy": result.entropy,
                    "baseline": result.baseline, "seconds": result.seconds}
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``orderopt train``: full training on each ``--order``, exact-match success, optional saved models."""
    from pathlib import Path

    from orderopt.presets import preset_for
    from orderopt.training import with_overrides, write_output_dir
    from orderopt.training_pool import plan_jobs, train_each

    _check_jobs(args.jobs, "--jobs")
    task = _task_from_args(args)
    orders = [(name, task.parse_order(name)) for name in (args.order or ["forward"])]
    preset = preset_for(args.preset, task)
    config = with_overrides(
        preset.final_train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, hold_fraction=args.hold,
        seed=args.seed, device=args.device,
    ).check()
    splits = task.splits(config.n_train, config.n_val, config.n_test, seed=config.seed)
    print(f"task {task.describe()}: {task.formula}")
    processes, _ = plan_jobs(config.device, len(orders), args.jobs)
    at_once = f", {processes} at a time" if processes > 1 else ""
    print(f"training {len(orders)} order(s) (preset {preset.name}, {config.total_steps()} steps{at_once})")
    runs: dict[int, dict] = {}
    args.payload = {"task": task.spec(), "preset": preset.name, "steps": config.total_steps(), "seed": config.seed,
                    "runs": []}
    for trained in train_each(task, [o for _, o in orders], preset.final_model, config, splits=splits, jobs=args.jobs,
                              progress=not args.quiet):
        (name, order), result, rep = orders[trained.index], trained.result, trained.report
        print(f"\norder {name} = {format_order(order)}")
        print(f"  model {result.model.num_params():,} parameters on {result.device}, {result.seconds:.1f} s")
        print("  validation loss: " + "  ".join(f"{s}:{v:.3f}" for s, v in result.curve))
        print(f"  success rate (exact match, {rep.n} test samples): {rep.success_rate:.3f}")
        print("  accuracy by position y_i: " + " ".join(f"{a:.2f}" for a in rep.position_accuracy), flush=True)
        saved = None
        if args.output:
            saved = write_output_dir(result, task, preset.final_model, config,
                                     Path(args.output) / name.replace(",", "-").replace(":", "-"), rep.success_rate)
            print(f"  saved to {saved}")
        runs[trained.index] = {
            "name": name, "order": list(order), "success": rep.success_rate,
            "position_accuracy": [float(a) for a in rep.position_accuracy], "test_samples": rep.n,
            "curve": [list(c) for c in result.curve], "seconds": result.seconds, "device": result.device,
            "parameters": result.model.num_params(), "output": str(saved) if saved else None}
    args.payload["runs"] = [runs[i] for i in sorted(runs)]
    if len(runs) > 1:
        print("\norder            success  final val loss")
        for run in args.payload["runs"]:
            print(f"{run['name']:<16} {run['success']:7.3f}  {run['curve'][-1][1]:.4f}")
    return 0


def parse_order_list(text: str, task) -> list[tuple[str, tuple[int, ...]]]:
    """``forward,reverse,3,1,0,2`` -> named and explicit orders (runs of L integers)."""
    tokens = [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]
    out, digits = [], []
    for tok in tokens + [None]:
        if tok is not None and tok.lstrip("-").isdigit():
            digits.append(tok)
            if len(digits) == task.length:
                out.append((",".join(digits), task.parse_order(",".join(digits))))
                digits = []
            continue
        if digits:
            task.parse_order(",".join(digits))  # raises: wrong length
        if tok is not None:
            out.append((tok, task.parse_order(tok)))
    return out


def cmd_profile(args: argparse.Namespace) -> int:
    """``orderopt profile``: rank candidate orders by one short training run."""
    from orderopt.orders import random_orders
    from orderopt.presets import preset_for
    from orderopt.profiling import config_from_preset, profile

    if args.random < 0:
        raise ConfigError(f"--random must be >= 0, got {args.random}")
    if args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    task = _task_from_args(args)
    named = parse_order_list(args.orders, task)
    candidates = list(dict.fromkeys(o for _, o in named))
    if args.random:
        candidates += random_orders(task.length, args.random, args.seed, exclude=candidates)
    preset = preset_for(args.preset, task)
    config = config_from_preset(
        preset, mode=args.mode, signal=args.signal, val_per_order=args.val_per_order,
        steps=args.steps, seed=args.seed, device=args.device,
    )
    print(f"task {task.describe()}: {task.formula}")
    print(f"profiling {len(candidates)} orders, mode {config.mode}"
          f"{', signal ' + config.signal if config.mode == 'mixture' else ''}, preset {preset.name}, "
          f"{config.train.total_steps()} steps, seed {args.seed}")
    result = profile(task, candidates, config, progress=not args.quiet)
    print(f"done in {result.seconds:.1f} s on {result.device}\n")
    width = max(len(format_order(o)) for o in candidates)
    print(f"{'rank':>5}  {'order':<{width}}  score")
    for rank, order, score in result.ranking()[: args.top]:
        print(f"{rank:>5}  {format_order(order):<{width}}  {score:.4f}")
    if named:
        print("\nnamed orders:")
        for name, order in named:
            print(f"  {name:<16} rank {result.rank_of(order):>5} of {len(candidates)}  score {result.score_of(order):.4f}")
    args.payload = {
        "task": task.spec(), "mode": config.mode, "signal": config.signal, "preset": preset.name,
        "steps": config.train.total_steps(), "seed": args.seed, "seconds": result.seconds, "device": result.device,
        "ranking": [{"rank": r, "order": list(o), "score": v} for r, o, v in result.ranking()],
        "named": [{"name": n, "order": list(o), "rank": result.rank_of(o), "score": result.score_of(o)}
                  for n, o in named],
    }
    return 0


def _run_search(study, args: argparse.Namespace, *, workers: int = 1) -> int:

    from orderopt.storage import default_storage_url, redact
    from orderopt.report import probe_line
    from orderopt.studies import best_orders, read_spec, search

    spec = read_spec(study)
    where = redact(args.storage or default_storage_url())
    before = len(study.trials)
    print(f"study {study.study_name} in {where}: task {spec.task.get('name')} L={spec.length}, mode {spec.mode}, "
          f"preset {spec.preset}, {before} trials so far", flush=True)
    line = probe_line(study)
    if line:
        print(line, flush=True)
    budget = getattr(args, "budget_minutes", None)

    def on_round(info) -> None:
        best = f"best {info.best_score:.4f} {format_order(info.best_order)}" if info.best_order else ""
        print(f"  {info.stage:<14} {info.orders:>5} orders  {info.evaluated:>6} evaluated  {best}  "
              f"({info.seconds:.0f} s)", flush=True)
        _publish(study)

    start = time.perf_counter()
    if workers > 1:
        from orderopt.studies._workers import run_workers

        def on_poll() -> None:
            best = best_orders(study, 1)
            shown = f"best {best[0][1]:.4f} {format_order(best[0][0])}" if best else "no score yet"
            print(f"  {workers} workers: {len(study.trials) - before} trials so far, {shown} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)

        print(f"{workers} worker processes (orderopt worker --study {study.study_name}{_storage_flag(args)})",
              flush=True)
        failed = run_workers(study.study_name, args.storage, workers, n_trials=args.n_trials, device=args.device,
                             on_poll=on_poll)
        trials, best, stopped = len(study.trials) - before, best_orders(study), "workers done"
        if failed:
            stopped = f"{failed} of {workers} workers failed (see their errors above)"
    else:
        result = search(study, n_trials=args.n_trials, budget_minutes=budget, device=args.device,
                        progress=not args.quiet, on_round=on_round)
        trials, best, stopped = result.trials, result.best, result.stopped
    print(f"\n{trials} trials in {time.perf_counter() - start:.0f} s ({stopped}); best orders "
          "(score = profile loss on the study's common scale; after the tournament, its mean):")
    print(f"{'rank':>5}  {'trial':>5}  score   order")
    for rank, (order, score, number) in enumerate(best[: args.top], 1):
        print(f"{rank:>5}  {number:>5}  {score:.4f}  {format_order(order)}")
    from orderopt.report import profile_warnings, report_data

    for warning in profile_warnings(study):
        print(f"\n{warning}", flush=True)
    if getattr(args, "verify", False):
        from orderopt.studies import format_verification, verify

        print("\nverification (full training of the final model, exact match on the test split):", flush=True)
        from orderopt.storage import artifact_store

        rows = verify(study, top=args.verify_top, n_random=args.verify_random, device=args.device,
                      jobs=getattr(args, "verify_jobs", None),
                      progress=not args.quiet, artifacts=artifact_store(args.storage))
        print(format_verification(rows))
    _publish(study)
    args.payload = {"stopped": stopped, "new_trials": trials, "seconds": time.perf_counter() - start,
                    **report_data(study, top=args.top)}
    print(f"\nreport: orderopt report --study {study.study_name}{_storage_flag(args)}; "
          f"dashboard: orderopt dashboard{_storage_flag(args)}")
    return 0


def _storage_flag(args: argparse.Namespace) -> str:
    from orderopt.storage import redact

    return f" --storage {redact(args.storage)}" if args.storage else ""


def _publish(study) -> None:
    """Refresh the dashboard note and cards; a failure here must never stop a search."""
    try:
        from orderopt.report import publish

        publish(study)
    except Exception as exc:  # noqa: BLE001 - the note is a convenience, the trials are stored anyway
        print(f"orderopt: warning: could not update the dashboard note: {exc}", file=sys.stderr)


SETTING_FLAGS = ("preset", "mode", "seed", "init", "levels", "steps", "population", "round_size", "incumbents",
                 "patience", "references", "tournament_size", "tournament_runs", "model_proposals", "pruning",
                 "prior")


def _check_jobs(jobs: int | None, flag: str) -> None:
    if jobs is not None and jobs < 1:
        raise ConfigError(f"{flag} must be >= 1, got {jobs}; use 1 to train one order at a time")


def _check_run_args(args: argparse.Namespace) -> None:
    """Options of a search run that no study setting covers: checked before anything is stored."""
    if args.n_trials is not None and args.n_trials < 0:
        raise ConfigError(f"--n-trials must be >= 0, got {args.n_trials}")
    budget = getattr(args, "budget_minutes", None)
    if budget is not None and not (0 < budget < float("inf")):
        raise ConfigError(f"--budget-minutes must be a positive number of minutes, got {budget}")
    if args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")


def cmd_search(args: argparse.Namespace) -> int:
    """``orderopt search``: create (or resume) the study, checking every option first, then search."""
    from orderopt.studies import create_study

    _check_run_args(args)
    task = _task_from_args(args)
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if getattr(args, "verify", False) and (args.verify_top < 1 or args.verify_random < 0):
        raise ConfigError("--verify-top must be >= 1 and --verify-random >= 0")
    _check_jobs(args.verify_jobs, "--verify-jobs")
    study = create_study(task, storage=args.storage, study_name=args.study,
                         log=None if args.quiet else (lambda line: print(line, flush=True)),
                         **{k: getattr(args, k) for k in SETTING_FLAGS})
    return _run_search(study, args, workers=args.workers)


def cmd_worker(args: argparse.Namespace) -> int:
    """``orderopt worker``: join an existing study with its stored settings."""
    from orderopt.studies import load_study
    from orderopt.tasks import trust_import

    _check_run_args(args)
    for path in args.trust_import:
        trust_import(path)
    return _run_search(load_study(args.study, storage=args.storage), args)


def cmd_report(args: argparse.Namespace) -> int:
    """``orderopt report``: text or JSON report of a study; optional PNG figures."""
    from orderopt.report import format_report, report_data, save_plot
    from orderopt.storage import artifact_store
    from orderopt.studies import load_study

    if args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    study = load_study(args.study, storage=args.storage)
    print(format_report(study, top=args.top))
    if args.plot:
        print(f"\nfigures saved to {save_plot(study, args.plot, artifacts=artifact_store(args.storage))}")
    args.payload = report_data(study, top=args.top)
    return 0


def _check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc}; pick another --port") from None


def cmd_dashboard(args: argparse.Namespace) -> int:
    """``orderopt dashboard``: refresh every orderopt study's note and serve optuna-dashboard."""
    import optuna

    from orderopt._extras import require
    from orderopt.report import publish
    from orderopt.storage import artifact_store, default_storage_url, get_storage, redact
    from orderopt.studies import load_study
    from orderopt.studies._spec import SPEC_ATTR

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be in 1..65535, got {args.port}")
    _check_port_free(args.host, args.port)
    run_server = require("optuna_dashboard", "orderopt dashboard").run_server
    storage = get_storage(args.storage, create=False)
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if SPEC_ATTR in summary.user_attrs:  # an orderopt study: refresh its note and cards
            try:
                publish(load_study(summary.study_name, storage=storage))
            except OrderoptError as exc:  # e.g. made by another orderopt version: serve it as it is
                print(f"orderopt: warning: {exc}", file=sys.stderr)
    url = redact(args.storage or default_storage_url())
    print(f"optuna-dashboard for {url} at http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    try:
        run_server(storage, host=args.host, port=args.port, artifact_store=artifact_store(args.storage))
    except OSError as exc:
        raise ConfigError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}; "
                          "pick another --port") from None
    return 0


COMMANDS = {"tasks": cmd_tasks, "train": cmd_train, "profile": cmd_profile, "probe": cmd_probe, "search": cmd_search,
            "worker": cmd_worker, "report": cmd_report, "dashboard": cmd_dashboard}


def _jsonable(value):
    """numpy scalars and other stragglers: as plain numbers or text."""
    return value.item() if hasattr(value, "item") else str(value)


_INTERRUPT_QUIET_S = 2.0
_last_interrupt = [float("-inf")]


def _interrupt(signum, frame) -> None:
    """Ctrl-C or SIGTERM interrupts. More of them within the next 2 s (a key held down, Ctrl-C
    and a batch system's SIGTERM together) are ignored, so they cannot cut short the marking of
    the interrupted round as FAILED; a later one interrupts again (kill -9 ends the process at
    once; heartbeats then fail its trials). The handler stays a Python function throughout:
    switching to SIG_IGN races with signals already pending."""
    from orderopt.engine import request_stop

    now = time.monotonic()
    if now - _last_interrupt[0] < _INTERRUPT_QUIET_S:
        return
    _last_interrupt[0] = now
    request_stop()
    raise KeyboardInterrupt


def _quiet_swallowed_interrupts(unraisable) -> None:
    """An interrupt raised inside a weakref callback is swallowed by CPython (and re-delivered
    by :func:`orderopt.engine.request_stop`): do not print it as an error."""
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


def main(argv: Sequence[str] | None = None, *, exiting: bool = False) -> int:
    """Run one command; its exit code. ``exiting=True`` (the console entry point) keeps the
    interrupt handlers after a search, so a late Ctrl-C cannot break the interpreter's exit."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("search", "worker", "report", "dashboard"):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # orderopt prints its own progress
    previous, hook = None, sys.unraisablehook
    if args.command in ("search", "worker"):  # a polite kill (or a batch system's) ends like Ctrl-C
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        sys.unraisablehook = _quiet_swallowed_interrupts
    try:
        if not getattr(args, "json", False):
            return COMMANDS[args.command](args)
        with contextlib.redirect_stdout(sys.stderr):  # the JSON document alone on stdout
            code = COMMANDS[args.command](args)
        print(json.dumps(getattr(args, "payload", {}), default=_jsonable))
        return code
    except OrderoptError as exc:
        print(f"orderopt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("orderopt: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None and not exiting:  # called from Python: leave everything as it was
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            from orderopt.engine import clear_stop

            clear_stop()
            sys.unraisablehook = hook


def console() -> None:
    """The ``orderopt`` command. After an interrupt the process ends at once with code 130: the
    interpreter's shutdown resets the signal handlers, and the rest of a burst of Ctrl-C would
    then kill it with a traceback (everything is stored and committed by then)."""
    code = main(exiting=True)
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    console()
