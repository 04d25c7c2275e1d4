"""Several trainings at once: same numbers as one after another, clear errors, no stray processes."""

import multiprocessing

import pytest

from orderopt.errors import ConfigError
from orderopt.presets import get_preset
from orderopt.tasks import make_task
from orderopt.training import with_overrides
from orderopt.training_pool import plan_jobs, train_each


def _run(jobs):
    task = make_task("square", 4, scramble=1)
    preset = get_preset("tiny")
    config = with_overrides(preset.final_train, steps=30)
    orders = [task.parse_order("friendly"), task.parse_order("reverse"), task.parse_order("random:3")]
    trained = sorted(train_each(task, orders, preset.final_model, config, jobs=jobs, progress=False),
                     key=lambda t: t.index)
    return orders, trained


def test_parallel_trainings_give_the_same_models_and_scores_as_sequential():
    orders, one = _run(1)
    _, two = _run(2)
    assert [t.index for t in two] == [0, 1, 2]
    for a, b in zip(one, two):
        assert b.result.order == orders[b.index]
        assert a.result.curve == b.result.curve
        assert a.report.success_rate == b.report.success_rate
        assert a.report.position_accuracy == b.report.position_accuracy
        for (name, p), (_, q) in zip(a.result.model.state_dict().items(), b.result.model.state_dict().items()):
            assert p.equal(q), name
    assert not multiprocessing.active_children()


def test_plan_jobs_splits_cores_and_never_exceeds_the_orders():
    assert plan_jobs("cpu", 1, None)[0] == 1
    processes, threads = plan_jobs("cpu", 50, 2)
    assert processes == 2 and threads >= 1
    assert plan_jobs("cpu", 3, 8)[0] == 3


def test_bad_jobs_is_a_clear_error():
    with pytest.raises(ConfigError, match="jobs must be >= 1"):
        plan_jobs("cpu", 3, 0)


def _training_children() -> list[int]:
    """Pids of this process's children that run orderopt.training_pool (Linux /proc)."""
    import os
    from pathlib import Path

    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and b"orderopt.training_pool" in cmd:
            pids.append(int(proc.name))
    return pids


@pytest.mark.skipif(not __import__("pathlib").Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_abandoning_the_trainings_stops_the_worker_processes():
    task = make_task("square", 4)
    preset = get_preset("tiny")
    config = with_overrides(preset.final_train, steps=400)
    orders = [task.parse_order(n) for n in ("forward", "reverse", "random:1", "random:2")]
    trainings = train_each(task, orders, preset.final_model, config, jobs=2, progress=False)
    first = next(trainings)
    assert first.index in (0, 1)  # the other first training is (almost always) still running here
    trainings.close()
    assert _training_children() == []


def test_a_generator_no_other_process_can_import_trains_in_process():
    """A lambda or a notebook's function cannot be rebuilt in a child: the pool trains it here."""
    import numpy as np

    from orderopt.tasks import from_callable

    task = from_callable(lambda n, rng: (lambda x: (x, np.cumsum(x, axis=1) % 10))(rng.integers(0, 10, (n, 4))))
    preset = get_preset("tiny")
    config = with_overrides(preset.final_train, steps=10)
    trained = list(train_each(task, [(0, 1, 2, 3), (3, 2, 1, 0)], preset.final_model, config, jobs=2, progress=False))
    assert sorted(t.index for t in trained) == [0, 1] and not task.portable()


SCRIPT = '''
import numpy as np
from orderopt.presets import get_preset
from orderopt.tasks import from_callable
from orderopt.training import with_overrides
from orderopt.training_pool import train_each

def generate(n, rng):
    x = rng.integers(0, 10, (n, 4))
    return x, np.cumsum(x, axis=1) % 10

def main():
    task = from_callable(generate)
    preset = get_preset("tiny")
    config = with_overrides(preset.final_train, steps=10)
    orders = [(0, 1, 2, 3), (3, 2, 1, 0)]
    print(sorted(t.index for t in train_each(task, orders, preset.final_model, config, jobs=2, progress=False)))

{call}
'''


@pytest.mark.parametrize("guarded", [True, False])
def test_a_script_s_own_generator_trains_in_worker_processes(tmp_path, guarded):
    """A function defined in the running script is imported by path in the children; a script
    whose work is not under the __main__ guard gets the fix instead of a cascade of processes."""
    import subprocess
    import sys

    script = tmp_path / "my_script.py"
    script.write_text(SCRIPT.replace("{call}", 'if __name__ == "__main__":\n    main()' if guarded else "main()"))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    if guarded:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip() == "[0, 1]"
    else:
        assert proc.returncode != 0 and 'put the script\'s work under `if __name__ == "__main__":`' in proc.stderr
