"""benchmarks/README.md indexes every result file, and every file it links exists."""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_every_result_file_is_indexed_and_every_link_resolves():
    index = (BENCHMARKS / "README.md").read_text()
    links = set(re.findall(r"\]\((results/[^)]+)\)", index))
    files = {str(p.relative_to(BENCHMARKS)) for p in (BENCHMARKS / "results").rglob("*") if p.is_file()}
    assert not files - links, f"unindexed result files (add them to benchmarks/README.md): {sorted(files - links)}"
    assert not links - files, f"benchmarks/README.md links files that do not exist: {sorted(links - files)}"


def test_every_table_names_a_command_from_the_repository_root():
    for table in (BENCHMARKS / "results").rglob("*.md"):
        commands = re.findall(r"- command: `([^`]*)`", table.read_text())
        assert commands, f"{table} records no command"
        assert all(c.startswith("python benchmarks/") for c in commands), (table, commands)
