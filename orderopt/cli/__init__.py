"""Command line: ``orderopt tasks | train | profile | probe | search | worker | report | dashboard``.

Every :class:`~orderopt.errors.OrderoptError` is printed as one line and exits with code 2;
every option is checked before anything is loaded or written (:mod:`orderopt.cli.checks`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Sequence

from orderopt.cli.checks import check_args
from orderopt.cli.commands import COMMANDS
from orderopt.cli.parser import build_parser
from orderopt.errors import OrderoptError

__all__ = ["main", "build_parser", "console"]


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
        check_args(args)
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
