"""mkdocs hook: write the CLI reference from orderopt's argparse parser before every build, so the
page cannot drift from the code."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def cli_reference() -> str:
    from orderopt.cli import build_parser

    os.environ["COLUMNS"] = "100"  # the same line breaks on every machine
    parser = build_parser()
    parts = ["# CLI reference", "",
             "Generated from `orderopt.cli.build_parser` at every docs build: this is what `--help` prints.", "",
             "```text", parser.format_help().rstrip(), "```", ""]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    for name, command in sub.choices.items():
        parts += [f"## orderopt {name}", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_pre_build(config, **kwargs) -> None:
    target = Path(config["docs_dir"]) / "reference" / "cli.md"
    text = cli_reference()
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
