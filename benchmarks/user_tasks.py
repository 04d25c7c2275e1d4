"""User tasks under default budgets: does each examples/ task learn in its friendly order, fail in
its reverse, and does the default search find the friendly order on relabelled copies?

Run (from the repository root; resumable, every run cached):
    python benchmarks/user_tasks.py                         # every example, relabellings 1-3
    python benchmarks/user_tasks.py --tasks recurrence4 --scrambles 1

Per task: ``orderopt train --order friendly --order unfriendly`` (the cpu preset's adaptive full
training, both orders side by side, one process per core). Per relabelling (``--scramble S``):
``orderopt search --scramble S --verify --verify-top 1 --verify-random 0`` with default search
settings (random initial orders, dependency probe, learnability check), run as a user runs it,
in its own SQLite study under benchmarks/.cache/user_tasks/ (an interrupted search resumes there;
its terminal output is kept beside it). Discovered: found #1 trains to at least the friendly
order's success minus 0.05. Writes results/user_tasks/user_tasks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import DISCOVERY_TOLERANCE, RunCache, add_rerun_option, host_notes, stale, write_table

from orderopt.presets import preset_for
from orderopt.tasks import resolve_task, scrambled
from orderopt.training import with_overrides
from orderopt.training_pool import train_each

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache" / "user_tasks"
NAME = "user_tasks/user_tasks"
KEY = ("task", "kind", "scramble", "order", "seed")


def example_tasks() -> dict[str, str]:
    """Example name -> the --task text that loads it (dataset files are written first)."""
    import importlib.util

    out = {}
    for name in ("recurrence4", "expression_tree", "grid_recurrence"):
        path = ROOT / "examples" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"example_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        data = getattr(module, "DATA_FILE", None)
        if data is None:
            out[name] = f"{path}:generate"
        else:
            target = ROOT / data
            if not target.exists():
                module.write(target)
            out[name] = str(target)
    return out


def train_runs(cache: RunCache, name: str, text: str, seed: int, rerun: bool = False) -> dict[str, dict]:
    task = resolve_task(text)
    preset = preset_for("cpu", task)
    config = with_overrides(preset.final_train, seed=seed)
    orders = {"friendly": task.parse_order("friendly"), "unfriendly": task.parse_order("unfriendly")}
    fields = {o: {"task": name, "kind": "train", "scramble": None, "order": o, "seed": seed} for o in orders}
    todo = [o for o in orders if cache.needs(fields[o], rerun=rerun)]
    if todo:
        for trained in train_each(task, [orders[o] for o in todo], preset.final_model, config, progress=False):
            result, label = trained.result, todo[trained.index]
            cache.run(fields[label], lambda result=result, trained=trained: {
                "success": trained.report.success_rate, "steps": result.steps, "stopped": result.stop_reason,
                "seconds": round(result.seconds, 1)}, rerun=rerun)
    return {o: cache.get(fields[o]) for o in orders}


RULE_COMMIT = "9584745"  # from here on found #1 keeps the dependencies of a probe that explained every target


def has_rule(record: dict) -> bool:
    """Whether ``record`` was made by code that keeps the probe's dependencies in found #1."""
    done = subprocess.run(["git", "merge-base", "--is-ancestor", RULE_COMMIT, record.get("commit", "")], cwd=ROOT,
                          capture_output=True)
    return done.returncode == 0


def search_run(cache: RunCache, name: str, text: str, scramble: int, seed: int, refresh: bool = False,
               rerun: bool = False) -> dict:
    """``orderopt search --scramble S --verify`` as a user runs it (found #1 and the forward and
    reverse baselines verified), in its own SQLite study; the terminal output is kept beside it.
    ``refresh`` resumes the cached study; ``rerun`` of a stale run searches a new one."""
    fields = {"task": name, "kind": "search", "scramble": scramble, "order": None, "seed": seed}
    previous = cache.get(fields)

    def run() -> dict:
        CACHE.mkdir(parents=True, exist_ok=True)
        stem = CACHE / f"{name}-s{scramble}-seed{seed}"
        argv = [sys.executable, "-m", "orderopt", "search", "--task", text, "--scramble", str(scramble), "--seed",
                str(seed), "--storage", f"sqlite:///{stem}.db", "--verify", "--verify-top", "1", "--verify-random",
                "0", "--quiet", "--json"]
        if rerun and previous is not None and stale(previous):  # another code version's study: start over
            stem.with_suffix(".db").unlink(missing_ok=True)
        resumed = refresh and previous is not None and stem.with_suffix(".db").exists()
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        stem.with_suffix(".log").write_text(proc.stderr)
        if proc.returncode != 0:
            raise RuntimeError(f"search failed: {proc.stderr[-2000:]}")
        doc = json.loads(proc.stdout)
        rows = {r["label"]: r for r in doc["verification"]}
        found = rows.get("found #1")
        return {"stopped": doc["stopped"], "trials": sum(doc["trials"].values()),
                "found": found["order"] if found else None,
                "found_success": found["success"] if found else None, "found_steps": found["steps"] if found else None,
                "baselines": {k: [rows[k]["success"], rows[k]["steps"]] for k in ("forward", "reverse") if k in rows},
                # a resumed study's time adds to the run it resumes (only what changed was run again)
                "seconds": round(seconds + (previous["seconds"] if resumed else 0.0), 1), "resumed": resumed,
                "learnability": (doc.get("learnability") or {}).get("verdict"),
                "probe_explained": (doc.get("dependency_probe") or {}).get("explained")}

    return cache.run(fields, run, refresh=refresh, rerun=rerun)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=None, help="comma list of example names (default: all)")
    ap.add_argument("--scrambles", default="1,2,3")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-search", action="store_true", help="only the friendly/unfriendly trainings")
    ap.add_argument("--refresh", action="store_true",
                    help="run the search command again even where its run is cached: on its cached study it resumes "
                         "(a finished search is not searched again; a found #1 not verified yet is), else a new "
                         "study; the .jsonl keeps the old record")
    add_rerun_option(ap)
    args = ap.parse_args()
    examples = example_tasks()
    names = args.tasks.split(",") if args.tasks else list(examples)
    cache = RunCache(NAME, KEY)
    for name in names:
        trained = train_runs(cache, name, examples[name], args.seed, rerun=args.rerun)
        print(name, {o: (r["success"], r["steps"], r["stopped"]) for o, r in trained.items()}, flush=True)
        if args.skip_search:
            continue
        for scramble in (int(s) for s in args.scrambles.split(",")):
            rec = search_run(cache, name, examples[name], scramble, args.seed, refresh=args.refresh,
                             rerun=args.rerun)
            print(name, scramble, rec["found"], rec["found_success"], rec["seconds"], flush=True)
    write(cache, examples)


def friendly_order(text: str, scramble: int) -> tuple[int, ...]:
    """The example's own friendly order in the numbering of relabelling ``scramble``."""
    return tuple(scrambled(resolve_task(text), scramble).parse_order("friendly"))


def write(cache: RunCache, examples: dict[str, str]) -> None:
    records = list(cache.records.values())
    friendly = {(r["task"], r["seed"]): r for r in records if r["kind"] == "train" and r["order"] == "friendly"}
    rows = []
    for r in records:
        if r["kind"] == "train":
            rows.append([r["task"], "-", f"train {r['order']}", f"{r['success']:.3f}", r["steps"], r["stopped"], "-",
                         "-", f"{r['seconds'] / 60:.1f}"])
            continue
        base = friendly.get((r["task"], r["seed"]))
        found = r["found_success"]
        discovered = "-" if found is None or base is None else (
            "yes" if found >= base["success"] - DISCOVERY_TOLERANCE else "no")
        if r.get("probe_explained") and not has_rule(r):
            discovered += " (earlier found #1 rule)"
        is_friendly = r["found"] is not None and tuple(r["found"]) == friendly_order(examples[r["task"]], r["scramble"])
        what = "friendly" if is_friendly else ",".join(map(str, r["found"] or [])) or "-"
        base_text = ", ".join(f"{k} {v[0]:.3f}" for k, v in (r.get("baselines") or {}).items())
        if base_text:
            what += f" (baselines: {base_text})"
        rows.append([r["task"], r["scramble"], f"search ({r['learnability'] or '-'})",
                     "-" if found is None else f"{found:.3f}", r["found_steps"] or "-", r["stopped"], what, discovered,
                     f"{r['seconds'] / 60:.1f}"])
    write_table(
        NAME, "User tasks (examples/) under default budgets: friendly vs unfriendly, and the default search",
        ["task", "relabelling", "run", "success", "steps", "stopped", "found #1", "discovered", "minutes"], rows,
        records=records,
        notes="train: `orderopt train --order friendly --order unfriendly` (cpu preset, adaptive full training, two "
              "trainings side by side on the 2 cores; minutes per training; the test suite shared the cores during the "
              "expression_tree and grid_recurrence train rows, a CI run the grid_recurrence relabelling-1 search, and "
              "test runs the relabelling-2 search of recurrence4, and small test runs a few "
              "minutes of expression_tree's relabelling-1 search). search: `orderopt search --scramble S "
              "--verify --verify-top 1 --verify-random 0` with default search settings (the learnability verdict in "
              "brackets), found #1 and the baselines verified by the same full training (forward and reverse are "
              "the file's or generator's own numbering, relabelled: for recurrence4 forward is the friendly order, "
              "for the two files, whose numbering is shuffled, it is not); discovered when found #1's success is at "
              f"least the friendly order's minus {DISCOVERY_TOLERANCE}; minutes for search and verification together. "
              + "Rows were added by runs of this script on subsets (--tasks, --scrambles); each record in the .jsonl "
                "names its commit; `python benchmarks/user_tasks.py` runs what is missing and rewrites this table. "
              + (f"(earlier found #1 rule): a search whose dependency probe explained every target, run before found "
                 f"#1 had to keep the probe's dependencies (commit {RULE_COMMIT}); where its found #1 breaks one, "
                 f"today's code picks another order (`--refresh` runs the command again; on a cached study it only "
                 f"verifies the new found #1; a resumed run's minutes include the first run's). "
                 if any("earlier found #1 rule" in str(row[7]) for row in rows) else "")
              + host_notes(records),
    )


if __name__ == "__main__":
    main()
