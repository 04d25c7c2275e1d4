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


def test_a_table_names_the_package_versions_behind_its_rows():
    """Commits that left orderopt/ alone share its version; a table of rows from two versions says so."""
    import sys

    sys.path.insert(0, str(BENCHMARKS))
    from _common import code_line

    # a03485a and 4365ed0 changed only benchmarks and results after 817159b changed orderopt/
    assert code_line([{"commit": "a03485a"}, {"commit": "4365ed0"}]) == "orderopt/ as of 817159b (all 2 runs)"
    mixed = code_line([{"commit": "a03485a"}, {"commit": "9584745"}, {}])
    assert mixed == "orderopt/ as of 817159b (1 run), 9584745 (1 run); not recorded (1 run)"
