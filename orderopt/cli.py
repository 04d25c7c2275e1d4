"""Command line: ``orderopt tasks | train``.

Every :class:`~orderopt.errors.OrderoptError` is printed as one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from orderopt.errors import OrderoptError
from orderopt.orders import format_order

__all__ = ["main", "build_parser"]


def _task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help="built-in task name, dataset file (.npz/.jsonl) or module:function")
    p.add_argument("--length", type=int, default=None, help="number of targets L (default 8 for built-in tasks)")
    p.add_argument("--window", type=int, default=None, help="index task: window d")
    p.add_argument("--variables", type=int, default=None, help="delay task: number of variables")
    p.add_argument("--delay", type=int, default=None, help="delay task: cross-variable delay")
    p.add_argument("--mlp-seed", type=int, default=None, help="mlp task: seed of the random MLP")


def _task_from_args(args: argparse.Namespace):
    from orderopt.tasks import resolve_task

    return resolve_task(
        args.task, args.length, window=args.window, variables=args.variables,
        delay=args.delay, mlp_seed=args.mlp_seed,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orderopt", description="Find learning-friendly generation orders for sequential computation."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("tasks", help="list built-in tasks and their formulas")

    p = sub.add_parser("train", help="train a model on one or more orders and report exact-match success")
    _task_args(p)
    p.add_argument(
        "--order", action="append", default=None,
        help="forward, reverse, random:SEED, a task-specific name or a list like 3,1,0,2 (repeatable; default forward)",
    )
    p.add_argument("--preset", default="cpu", help="tiny, cpu or paper (default cpu)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the preset's)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=0, help="seed for data, initialisation and batches")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def cmd_tasks(args: argparse.Namespace) -> int:
    from orderopt.tasks import list_tasks

    for task in list_tasks():
        orders = ", ".join(task.known_orders())
        print(f"{task.name:<9} {task.formula}")
        print(f"{'':<9} vocab {task.vocab_size}, default L={task.length}; orders: {orders}")
    print("\nUser tasks: --task data.npz | data.jsonl ({'input': [...], 'target': [...]}) | module:function")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from orderopt.presets import get_preset
    from orderopt.training import success_rate, train, with_overrides

    task = _task_from_args(args)
    orders = [(name, task.parse_order(name)) for name in (args.order or ["forward"])]
    preset = get_preset(args.preset)
    config = with_overrides(
        preset.final_train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device
    ).check()
    splits = task.splits(config.n_train, config.n_val, config.n_test, seed=config.seed)
    print(f"task {task.describe()}: {task.formula}")
    summary = []
    for name, order in orders:
        print(f"\norder {name} = {format_order(order)}  (preset {preset.name}, {config.total_steps()} steps)")
        result = train(task, order, preset.final_model, config, splits=splits, progress=not args.quiet)
        print(f"  model {result.model.num_params():,} parameters on {result.device}, {result.seconds:.1f} s")
        print("  validation loss: " + "  ".join(f"{s}:{v:.3f}" for s, v in result.curve))
        rep = success_rate(result.model, splits.x_test, splits.y_test, order)
        print(f"  success rate (exact match, {rep.n} test samples): {rep.success_rate:.3f}")
        print("  accuracy by position y_i: " + " ".join(f"{a:.2f}" for a in rep.position_accuracy))
        summary.append((name, rep.success_rate, result.curve[-1][1]))
    if len(summary) > 1:
        print("\norder            success  final val loss")
        for name, succ, loss in summary:
            print(f"{name:<16} {succ:7.3f}  {loss:.4f}")
    return 0


COMMANDS = {"tasks": cmd_tasks, "train": cmd_train}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except OrderoptError as exc:
        print(f"orderopt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("orderopt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
