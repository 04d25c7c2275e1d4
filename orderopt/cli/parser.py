"""The ``orderopt`` argument parser: one builder per command, shared option groups.

Choices come from the registries (profiling modes, signals, presets, search settings), so the
parser cannot offer what the code does not have; the CLI reference in the docs is generated from
:func:`build_parser`.
"""

from __future__ import annotations

import argparse

from orderopt import __version__
from orderopt.presets import PRESETS
from orderopt.profiling import MODES, SIGNALS
from orderopt.samplers._hierarchical import INIT_MODES
from orderopt.studies._spec import LEARNABILITY, PRIORS, PRUNINGS, SEARCH_MODES

__all__ = ["build_parser", "STORAGE_HELP", "SETTING_FLAGS"]

STORAGE_HELP = ("Optuna storage URL (default: $OPTUNA_STORAGE, else the embedded SQLite file "
                "sqlite:///storage/orderopt.db)")
# search settings stored in a study (their defaults are the study's, or for a new study the spec's)
SETTING_FLAGS = ("preset", "mode", "seed", "init", "levels", "steps", "population", "round_size", "incumbents",
                 "patience", "references", "tournament_size", "tournament_runs", "model_proposals", "pruning",
                 "prior", "learnability")


class _HelpFormatter(argparse.HelpFormatter):
    """Shows an option's default once: appended as ``(default: X)`` unless the help already names
    it (``default``, or a ``[value]`` for search settings) or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = "default" in text or "[" in text
        if shown or action.default in (None, False, argparse.SUPPRESS, []) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _presets() -> str:
    return ", ".join(PRESETS)


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout (the tables and progress go to stderr)")


def _device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N")


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _top(p: argparse.ArgumentParser, default: int, what: str = "rows of the best-orders table") -> None:
    p.add_argument("--top", type=int, default=default, help=what)


def _storage(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", default=None, help=STORAGE_HELP)


def _task(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True,
                   help="built-in task name, dataset file (.npz/.jsonl/.json/.csv), package.module:function or "
                        "path/to/file.py:function")
    p.add_argument("--length", type=int, default=None, help="number of targets L (built-in tasks; default 8)")
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
                        "privileged by the task's own numbering; the order 'friendly' is the task's friendly "
                        "(or forward) order, relabelled")


def _train(sub) -> None:
    p = sub.add_parser("train", help="train a model on one or more orders and report exact-match success",
                       formatter_class=_HelpFormatter)
    _task(p)
    p.add_argument("--order", action="append", default=None,
                   help="forward, reverse, random:SEED, a name the task defines or a list like 3,1,0,2 "
                        "(repeatable; default forward)")
    p.add_argument("--preset", default="cpu", help=f"{_presets()}: its final model and training (default cpu)")
    p.add_argument("--steps", type=int, default=None,
                   help="planned training steps (default: the preset's); a run stops sooner once every validation "
                        "row is right, and goes on past them while the validation loss still falls (see --max-steps)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="an adaptive run goes on past --steps at most to this many steps (default: 4 x --steps)")
    p.add_argument("--budget-minutes", type=float, default=None,
                   help="an adaptive run decays and ends in time to stop within this many minutes (no default: "
                        "a time budget makes results depend on the machine)")
    p.add_argument("--fixed", action="store_true", help="train exactly --steps steps (no early stop, no extension)")
    p.add_argument("--batch-size", type=int, default=None, help="samples per step (default: the preset's)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the preset's)")
    p.add_argument("--hold", type=float, default=None, metavar="SHARE",
                   help="share of the steps after warmup held at the peak learning rate before its linear "
                        "decay to 0 (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="seed for data, initialisation and batches")
    _device(p)
    _quiet(p)
    p.add_argument("--jobs", type=int, default=None,
                   help="trainings at once (default: one per CPU core, 1 on CUDA; scores do not depend on it)")
    p.add_argument("--output", default=None, metavar="DIR",
                   help="save each trained model to DIR/<order>/ (model.pt: weights and config, loadable with "
                        "orderopt.training.load_checkpoint; config.json: task, order, settings, curve, success)")
    _json(p)


def _profile(sub) -> None:
    p = sub.add_parser("profile", help="rank candidate orders by the validation loss of one short training run",
                       formatter_class=_HelpFormatter)
    _task(p)
    p.add_argument("--orders", default="forward,reverse",
                   help="named orders and/or explicit lists, comma separated (e.g. forward,reverse,3,1,0,2)")
    p.add_argument("--random", type=int, default=0, help="add this many distinct random orders")
    p.add_argument("--mode", default="mixture", choices=list(MODES),
                   help="mixture: one model trained on all orders at once; separate: one model per order; "
                        "batched: one model per order, vectorised")
    p.add_argument("--signal", default="index", choices=list(SIGNALS),
                   help="mixture only: tell the model the target indices, or not")
    p.add_argument("--preset", default="cpu", help=f"{_presets()}: its profile model")
    p.add_argument("--steps", type=int, default=None, help="profile training steps (default: the preset's)")
    p.add_argument("--val-per-order", type=int, default=None,
                   help="validation samples scoring each order (default: the profile's, 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the random orders and the training")
    _device(p)
    _top(p, 20, "rows of the ranked table to print")
    _quiet(p)
    _json(p)


def _probe(sub) -> None:
    p = sub.add_parser("probe", help="which few tokens determine each target, read from the task's data by counting",
                       formatter_class=_HelpFormatter)
    _task(p)
    p.add_argument("--samples", type=int, default=None, help="samples generated (half counted, half scored) [60000]")
    p.add_argument("--max-parents", type=int, default=None, help="largest set of tokens tried per target [3]")
    p.add_argument("--seed", type=int, default=0, help="seed of the data")
    _json(p)


def _search(sub) -> None:
    p = sub.add_parser("search", help="search a learning-friendly order (Optuna study; re-run to resume)",
                       formatter_class=_HelpFormatter)
    _task(p)
    _storage(p)
    p.add_argument("--study", default=None, help="study name (default: TASK-L<L>-MODE-seed<S>)")
    p.add_argument("--budget-minutes", type=float, default=None,
                   help="after this many minutes no new local round starts; the tournament still runs "
                        "(default: no limit)")
    p.add_argument("--n-trials", type=int, default=None,
                   help="trials (profiled orders) to run in this call; beyond the schedule they explore "
                        "(default: until the schedule is done; 0 only reports or verifies an existing study)")
    s = p.add_argument_group("search settings (stored in the study; default: the study's, or for a new "
                             "study the value in brackets)")
    s.add_argument("--preset", default=None, help=f"{_presets()}: its profile model scores orders [cpu]")
    s.add_argument("--mode", default=None, choices=list(SEARCH_MODES),
                   help="mixture: one profile per round of orders; trial: one profile per order [mixture]")
    s.add_argument("--seed", type=int, default=None, help="seed of the schedule and the profiles [0]")
    s.add_argument("--init", default=None, choices=list(INIT_MODES), help="initial orders [random]")
    s.add_argument("--levels", type=int, default=None, help="global levels K (block splits 2..K) [3]")
    s.add_argument("--steps", type=int, default=None,
                   help="profile training steps [the preset's, or longer if the learnability check needs them]")
    s.add_argument("--population", type=int, default=None,
                   help="random orders of the first round [the preset's mixture size: 512, prod 128]")
    s.add_argument("--round-size", type=int, default=None,
                   help="new orders per round at most [the preset's mixture size: 512, prod 128]")
    s.add_argument("--incumbents", type=int, default=None,
                   help="best orders whose neighbourhoods a local round explores [4]")
    s.add_argument("--patience", type=int, default=None,
                   help="stop the local rounds after this many rounds without a new best order [2]")
    s.add_argument("--references", type=int, default=None,
                   help="best orders profiled again in every round; the first round's stay on as the panel that "
                        "puts every round on one scale [4]")
    s.add_argument("--tournament-size", type=int, default=None,
                   help="best orders re-profiled together at the end to pick found #1, with up to half as many "
                        "round winners (0 = none) [16]")
    s.add_argument("--tournament-runs", type=int, default=None, help="tournament runs, each with another profile seed [2]")
    s.add_argument("--model-proposals", type=int, default=None,
                   help="orders per round proposed from the per-target losses (precedence model) [32]")
    s.add_argument("--prior", default=None, choices=list(PRIORS),
                   help="dependency: first read from the task's data which few tokens determine each target, and "
                        "seed the search with the order that follows them [dependency]")
    s.add_argument("--learnability", default=None, choices=list(LEARNABILITY),
                   help="check: a new study first checks that short profiles tell orders apart, lengthens them "
                        "while they do not (unless --steps is given), and stops with a verdict if no order learns "
                        "[check]")
    s.add_argument("--pruning", default=None, choices=list(PRUNINGS),
                   help="rank: drop the worse half of a round from mid-training on [none in mixture, rank in "
                        "trial mode]")
    _device(p)
    _top(p, 10)
    p.add_argument("--workers", type=int, default=1, help="local worker processes sharing the study")
    p.add_argument("--verify", action="store_true",
                   help="then fully train the best orders and baselines (forward, reverse, random orders)")
    p.add_argument("--verify-top", type=int, default=3, help="best orders to verify")
    p.add_argument("--verify-random", type=int, default=3, help="random baseline orders to verify")
    p.add_argument("--verify-jobs", type=int, default=None,
                   help="verification trainings at once (default: one per CPU core, 1 on CUDA)")
    _quiet(p)
    _json(p)


def _worker(sub) -> None:
    p = sub.add_parser("worker", help="join a running search by study name and storage URL",
                       formatter_class=_HelpFormatter)
    p.add_argument("--study", required=True, help="name of the study to join (made by `orderopt search`)")
    _storage(p)
    p.add_argument("--n-trials", type=int, default=None,
                   help="stop after this many trials (default: when the study's schedule is done)")
    _device(p)
    _top(p, 10)
    _quiet(p)
    p.add_argument("--trust-import", action="append", default=[], metavar="MODULE:FUNCTION",
                   help="let this worker import the study's task generator (a study stored by someone else "
                        "cannot make a worker run code unless trusted; also $ORDEROPT_TRUSTED_IMPORTS)")


def _report(sub) -> None:
    p = sub.add_parser("report", help="best orders, stage-by-stage history and verification of a study",
                       formatter_class=_HelpFormatter)
    p.add_argument("--study", default=None, help="name of the study to report (default: the storage's only study)")
    _storage(p)
    _top(p, 10)
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="also save the figures as a PNG file (and attach it to the study as an artifact)")
    _json(p)


def _dashboard(sub) -> None:
    p = sub.add_parser("dashboard", help="serve optuna-dashboard for a storage (refreshes orderopt notes first)",
                       formatter_class=_HelpFormatter)
    _storage(p)
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port to serve on")


def build_parser() -> argparse.ArgumentParser:
    """The ``orderopt`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="orderopt", description="Find learning-friendly generation orders for sequential computation.")
    parser.add_argument("--version", action="version", version=f"orderopt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tasks", help="list built-in tasks and their formulas")
    for builder in (_train, _profile, _probe, _search, _worker, _report, _dashboard):
        builder(sub)
    return parser
