"""Checks of a command's options, run before anything is loaded, trained or written.

A command that fails here leaves no study, no file and no trial behind: counts and budgets are
checked against their ranges, the device against the machine, output paths against the file
system and the port against the network. What needs the task or the storage (a loadable task, a
reachable database, ``--n-trials 0`` on a study that does not exist) is checked by the command
before it writes.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import tempfile
from pathlib import Path

from orderopt.errors import ConfigError

__all__ = ["check_args", "check_plot_path", "check_writable_dir", "check_new_study_args"]

# option -> smallest value it takes (checked when the command has the option and it is given)
MINIMUM = {"top": 1, "workers": 1, "verify_top": 1, "verify_random": 0, "random": 0, "jobs": 1, "verify_jobs": 1,
           "n_trials": 0, "max_steps": 1, "steps": 1, "batch_size": 1, "val_per_order": 1, "population": 1,
           "round_size": 1, "incumbents": 1, "patience": 1, "references": 0, "tournament_size": 0,
           "tournament_runs": 1, "model_proposals": 0, "levels": 1, "samples": 100, "max_parents": 1}
MAXIMUM = {"max_parents": 4}
POSITIVE_FLOATS = ("budget_minutes", "lr")
TRAINING_COMMANDS = ("train", "profile", "search", "worker")  # the ones that pick a device


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_args(args: argparse.Namespace) -> None:
    """Raise :class:`ConfigError` (one line) for an option no run can use."""
    for name, low in MINIMUM.items():
        value = getattr(args, name, None)
        high = MAXIMUM.get(name)
        if value is not None and (value < low or (high is not None and value > high)):
            bound = f"{low}-{high}" if high is not None else f">= {low}"
            raise ConfigError(f"{_flag(name)} must be {bound}, got {value}")
    for name in POSITIVE_FLOATS:
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{_flag(name)} must be a positive finite number, got {value}")
    if getattr(args, "command", None) in TRAINING_COMMANDS:
        from orderopt.engine import pick_device

        pick_device(getattr(args, "device", "auto"))
    if getattr(args, "port", None) is not None:
        if not 0 < args.port < 65536:
            raise ConfigError(f"--port must be in 1..65535, got {args.port}")
        check_port_free(args.host, args.port)
    if getattr(args, "output", None):
        check_writable_dir(args.output, "--output")
    if getattr(args, "plot", None):
        check_plot_path(args.plot)


def check_writable_dir(path: str | Path, flag: str) -> Path:
    """``path`` is (or can be made) a folder this process can write into; it is not created."""
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is a file, not a folder; give a folder to write into")
    existing = target.absolute()
    while not existing.exists():
        existing = existing.parent
    try:  # a real probe: permission bits say nothing for root, or on /proc and read-only mounts
        if not existing.is_dir():
            raise NotADirectoryError(str(existing))
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ConfigError(f"{flag} {str(path)!r} cannot be written ({existing}: {exc.strerror or exc}); "
                          "pick a writable path") from None
    return target


def check_plot_path(path: str | Path) -> Path:
    """A ``.png`` path whose folder exists or can be made, and that can be written."""
    target = Path(path).expanduser()
    if target.suffix.lower() != ".png":
        raise ConfigError(f"--plot must name a .png file, got {str(path)!r}")
    if target.is_dir():
        raise ConfigError(f"--plot {str(path)!r} is a folder; name a .png file")
    check_writable_dir(target.parent if str(target.parent) else ".", "--plot's folder")
    if target.exists() and not os.access(target, os.W_OK):
        raise ConfigError(f"--plot {str(path)!r} exists and cannot be overwritten; pick another path")
    return target


def check_port_free(host: str, port: int) -> None:
    """Nothing else serves on ``host:port``."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc}; pick another --port") from None


def check_new_study_args(args: argparse.Namespace, exists: bool, name: str) -> None:
    """What a search may not ask of a study that does not exist yet."""
    if not exists and args.n_trials == 0:
        raise ConfigError(f"--n-trials 0 only reports or verifies an existing study, and there is no study {name!r} "
                          "in this storage yet; drop --n-trials 0 to search")
