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


def test_rerun_remakes_only_the_runs_another_package_version_made(tmp_path, monkeypatch):
    """``--rerun`` brings a table to one version of orderopt/ and, interrupted, resumes."""
    import json
    import sys

    sys.path.insert(0, str(BENCHMARKS))
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    old = {"case": "old", "value": 1, "commit": "a03485a"}  # made under orderopt/ as of 817159b
    current = {"case": "current", "value": 1, "commit": _common.commit()}
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (old, current)))
    cache = _common.RunCache("t", ("case",))
    made = []

    def compute(case):
        made.append(case)
        return {"value": 2}

    assert cache.run({"case": "old"}, lambda: compute("old"))["value"] == 1  # no --rerun: cached runs stand
    assert [cache.needs({"case": c}, rerun=True) for c in ("old", "current", "new")] == [True, False, True]
    for case in ("old", "current"):
        cache.run({"case": case}, lambda case=case: compute(case), rerun=True)
    assert made == ["old"]
    assert cache.get({"case": "old"})["value"] == 2
    assert _common.RunCache("t", ("case",)).needs({"case": "old"}, rerun=True) is False  # a second --rerun resumes
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 3  # the old record stays as history
    # the table of a --rerun shows this version's runs only: an older sweep's run drops out
    gone = {"case": "older sweep", "value": 1, "commit": "a03485a"}
    assert _common.shown([gone, *cache.records.values()], rerun=True) == list(cache.records.values())
    assert _common.shown([gone], rerun=False) == [gone]


def test_a_table_names_the_machines_its_runs_ran_on_not_the_one_that_wrote_it():
    import sys

    sys.path.insert(0, str(BENCHMARKS))
    from _common import machine_line

    assert machine_line([{"machine": "A"}, {"machine": "A"}]) == "A (all 2 runs)"
    assert machine_line([{"machine": "A"}, {"machine": "B"}, {"machine": "A"}, {}]) == (
        "A (2 runs); B (1 run); not recorded (1 run)")


def test_a_table_written_from_the_cache_names_the_commands_that_made_its_rows(monkeypatch):
    import sys

    sys.path.insert(0, str(BENCHMARKS))
    import _common

    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py", "--table-only"])
    sweep = "python benchmarks/x.py --steps 600"
    assert _common.commands_line([{"command": sweep + " --rerun"}, {"command": sweep}, {}]) == (
        f"`{sweep}` (2 runs); not recorded (1 run)")
    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py", "--steps", "600"])
    assert _common.commands_line([{"command": sweep}, {}]) is None  # this command made every recorded run


def test_a_table_measured_afresh_names_this_commands_code_and_cached_runs_name_their_own(tmp_path, monkeypatch):
    """A table with no cache behind it (a timing) was made by this command's code; a cached table's
    code line comes from the runs ``RunCache.run`` returned for it (``used``), not from this command."""
    import sys

    sys.path.insert(0, str(BENCHMARKS))
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    afresh = _common.write_table("afresh", "t", ["a"], [[1]]).read_text()
    assert f"- code: orderopt/ as of {_common.code_version(_common.commit())} (this command)" in afresh
    cache = _common.RunCache("c", ("case",))
    cache.run({"case": "x"}, lambda: {"commit": "a03485a"})  # a run made under 817159b
    cache.run({"case": "x"}, lambda: {"commit": "never computed: cached"})
    assert [r["commit"] for r in cache.used] == ["a03485a"]  # a run two tables share counts once
    cached = _common.write_table("cached", "t", ["a"], [[1]], records=cache.used[:1]).read_text()
    assert "- code: orderopt/ as of 817159b (1 run)" in cached and "this command" not in cached
