"""The ``orderopt`` commands: each reads its parsed arguments, runs, prints, and leaves a JSON
payload in ``args.payload`` for ``--json``. Options were checked before (:mod:`orderopt.cli.checks`)."""

from __future__ import annotations

import argparse
import sys
import time

from orderopt.cli.checks import check_new_study_args, check_writable_dir
from orderopt.cli.parser import SETTING_FLAGS
from orderopt.errors import ConfigError, OrderoptError
from orderopt.orders import format_order

__all__ = ["COMMANDS", "parse_order_list"]


def _task_from_args(args: argparse.Namespace):
    from orderopt.tasks import resolve_task

    return resolve_task(
        args.task, args.length, window=args.window, variables=args.variables,
        delay=args.delay, mlp_seed=args.mlp_seed, sparse_operands=args.sparse_operands,
        sparse_profiles=args.sparse_profiles, sparse_zero=args.sparse_zero, scramble=args.scramble,
    )



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
    print("\nUser tasks: --task data.npz | data.jsonl ({'input': [...], 'target': [...]}) | data.csv (header x0,..,y0,..) | module:function")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    """``orderopt probe``: the dependency probe a new search starts with, on its own."""
    from dataclasses import replace

    from orderopt.dependency import ProbeConfig, probe_dependencies

    task = _task_from_args(args)
    config = ProbeConfig(seed=args.seed)
    if args.samples is not None:
        config = replace(config, n_samples=args.samples)
    if args.max_parents is not None:
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

    task = _task_from_args(args)
    orders = [(name, task.parse_order(name)) for name in (args.order or ["forward"])]
    preset = preset_for(args.preset, task)
    config = with_overrides(
        preset.final_train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, hold_fraction=args.hold,
        seed=args.seed, device=args.device, max_steps=args.max_steps, budget_minutes=args.budget_minutes,
        adaptive=False if args.fixed else None,
    ).check()
    splits = task.splits(config.n_train, config.n_val, config.n_test, seed=config.seed)
    print(f"task {task.describe()}: {task.formula}")
    note = _print_note(splits.shortfall_note(task.name, steps=config.total_steps(), batch_size=config.batch_size,
                                             **task.rows_wording()))
    processes, _ = plan_jobs(config.device, len(orders), args.jobs)
    at_once = f", {processes} at a time" if processes > 1 else ""
    print(f"training {len(orders)} order(s) (preset {preset.name}, {_length_text(config)}{at_once})")
    runs: dict[int, dict] = {}
    args.payload = {"task": task.spec(), "preset": preset.name, "steps": config.total_steps(), "seed": config.seed,
                    "data_note": note, "runs": []}
    for trained in train_each(task, [o for _, o in orders], preset.final_model, config, splits=splits, jobs=args.jobs,
                              progress=not args.quiet):
        (name, order), result, rep = orders[trained.index], trained.result, trained.report
        print(f"\norder {name} = {format_order(order)}")
        print(f"  model {result.model.num_params():,} parameters on {result.device}, {result.seconds:.1f} s, "
              f"{result.stopped()}")
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
            "curve": [list(c) for c in result.curve], "steps": result.steps, "stop_reason": result.stop_reason,
            "seconds": result.seconds, "device": result.device,
            "parameters": result.model.num_params(), "output": str(saved) if saved else None}
    args.payload["runs"] = [runs[i] for i in sorted(runs)]
    if len(runs) > 1:
        print("\norder            success  final val loss   steps  stopped")
        for run in args.payload["runs"]:
            print(f"{run['name']:<16} {run['success']:7.3f}  {run['curve'][-1][1]:14.4f}  {run['steps']:6d}  "
                  f"{run['stop_reason']}")
    return 0


def _length_text(config) -> str:
    """How long the trainings run, in words."""
    if not config.adaptive:
        return f"{config.total_steps()} steps"
    from orderopt.budget import EXTEND_FACTOR

    cap = config.max_steps or EXTEND_FACTOR * config.total_steps()
    limit = f", {config.budget_minutes:g} min" if config.budget_minutes else ""
    return (f"{config.total_steps()} steps planned: stops when every validation row is right, goes on while "
            f"the validation loss falls, at most {cap} steps{limit}")


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
    from orderopt.profiling import config_from_preset, profile, profile_splits

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
    splits = profile_splits(task, config)
    note = _print_note(splits.shortfall_note(task.name, steps=config.train.total_steps(),
                                             batch_size=config.train.batch_size, **task.rows_wording()))
    print(f"profiling {len(candidates)} orders, mode {config.mode}"
          f"{', signal ' + config.signal if config.mode == 'mixture' else ''}, preset {preset.name}, "
          f"{config.train.total_steps()} steps, seed {args.seed}")
    result = profile(task, candidates, config, splits=splits, progress=not args.quiet)
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
        "data_note": note,
        "ranking": [{"rank": r, "order": list(o), "score": v} for r, o, v in result.ranking()],
        "named": [{"name": n, "order": list(o), "rank": result.rank_of(o), "score": result.score_of(o)}
                  for n, o in named],
    }
    return 0


def _print_note(note: str | None) -> str | None:
    """Print a paragraph about the data (e.g. a dataset with fewer rows than asked for)."""
    if note:
        print(f"note: {note}", flush=True)
    return note


def _run_search(study, args: argparse.Namespace, *, workers: int = 1) -> int:

    from orderopt.storage import default_storage_url, redact
    from orderopt.report import learnability_line, no_order_learned, probe_line, report_data
    from orderopt.studies import best_orders, read_spec, recover_dead_runs, search, task_of
    from orderopt.studies._search import NO_ORDER_LEARNED
    from orderopt.tasks import spec_label

    spec = read_spec(study)
    where = redact(args.storage or default_storage_url())
    before = len(study.trials)
    print(f"study {study.study_name} in {where}: task {spec_label(spec.task)} L={spec.length}, mode {spec.mode}, "
          f"preset {spec.preset}, {before} trials so far", flush=True)
    for line in (probe_line(study), learnability_line(study)):
        if line:
            print(line, flush=True)
    for dead in recover_dead_runs(study):
        owner = dead.owner
        print(f"recovered {dead.trials} trial(s) left RUNNING by a run that died ({owner.get('host')}:{owner.get('pid')}, "
              f"since {owner.get('since', '?')}): failed now; their orders run again", flush=True)
    task = task_of(study)
    profiling = spec.profile_config(task)
    config = profiling.train
    notes = {"profile": _print_note(task.data_note(config.n_train, max(config.n_val, profiling.val_per_order),
                                                   config.n_test, steps=config.total_steps(),
                                                   batch_size=config.batch_size))}
    if no_order_learned(study):
        print("\nno order learned: nothing to search or verify (the learnability check above says what to try)",
              flush=True)
        args.payload = {"stopped": NO_ORDER_LEARNED, "new_trials": 0, "seconds": 0.0, "data_notes": notes,
                        **report_data(study, top=args.top)}
        return 0
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
    from orderopt.report import profile_warnings

    for warning in profile_warnings(study):
        print(f"\n{warning}", flush=True)
    if getattr(args, "verify", False):
        from orderopt.storage import artifact_store
        from orderopt.studies import format_verification, verify, verify_config

        vc = verify_config(study, args.device)
        print(f"\nverification (full training of the final model, {_length_text(vc)}; baselines get at most the "
              "preset's steps or what the found orders used; exact match on the test split):", flush=True)
        notes["verify"] = _print_note(task.data_note(vc.n_train, vc.n_val, vc.n_test, steps=vc.total_steps(),
                                                     batch_size=vc.batch_size))
        rows = verify(study, top=args.verify_top, n_random=args.verify_random, device=args.device,
                      jobs=getattr(args, "verify_jobs", None),
                      progress=not args.quiet, artifacts=artifact_store(args.storage))
        print(format_verification(rows))
    _publish(study)
    args.payload = {"stopped": stopped, "new_trials": trials, "seconds": time.perf_counter() - start,
                    "data_notes": notes, **report_data(study, top=args.top)}
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


def cmd_search(args: argparse.Namespace) -> int:
    """``orderopt search``: create (or resume) the study, checking every option first, then search.
    A study this call created is removed again if the call fails before any trial ran, so a
    failure never leaves an empty study that looks like a search."""
    from orderopt.storage import artifact_dir
    from orderopt.studies import create_study, default_study_name, discard_if_empty, study_exists

    task = _task_from_args(args)
    name = args.study or default_study_name(task, args.mode or "mixture", args.seed or 0)
    existed = study_exists(name, storage=args.storage)
    check_new_study_args(args, existed, name)
    if args.verify:
        check_writable_dir(artifact_dir(args.storage), "the artifact folder (set $ORDEROPT_ARTIFACTS)")
    study = create_study(task, storage=args.storage, study_name=args.study,
                         log=None if args.quiet else (lambda line: print(line, flush=True)),
                         **{k: getattr(args, k) for k in SETTING_FLAGS})
    try:
        return _run_search(study, args, workers=args.workers)
    except Exception:
        if not existed:
            discard_if_empty(study)
        raise


def cmd_worker(args: argparse.Namespace) -> int:
    """``orderopt worker``: join an existing study with its stored settings."""
    from orderopt.studies import load_study
    from orderopt.tasks import trust_import

    for path in args.trust_import:
        trust_import(path)
    return _run_search(load_study(args.study, storage=args.storage), args)


def cmd_report(args: argparse.Namespace) -> int:
    """``orderopt report``: text or JSON report of a study; optional PNG figures."""
    from orderopt.report import format_report, report_data, save_plot
    from orderopt.storage import artifact_store
    from orderopt.studies import load_study

    study = load_study(args.study, storage=args.storage)
    print(format_report(study, top=args.top))
    if args.plot:
        print(f"\nfigures saved to {save_plot(study, args.plot, artifacts=artifact_store(args.storage))}")
    args.payload = report_data(study, top=args.top)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """``orderopt dashboard``: refresh every orderopt study's note and serve optuna-dashboard."""
    import optuna

    from orderopt._extras import require
    from orderopt.report import publish
    from orderopt.storage import artifact_store, default_storage_url, get_storage, redact
    from orderopt.studies import load_study
    from orderopt.studies._spec import SPEC_ATTR

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
