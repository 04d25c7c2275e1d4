from __future__ import annotations

import json

import numpy as np
import pytest

from orderopt.errors import DatasetError, TaskConfigError
from orderopt.tasks import from_callable, from_file, resolve_task, task_from_spec


def running_sum(n, rng):
    """A user task: prefix sums mod 10."""
    x = rng.integers(0, 10, size=(n, 5))
    return x, np.cumsum(x, axis=1) % 10


def test_callable_task():
    task = from_callable(running_sum, known_orders={"odd-first": (1, 3, 0, 2, 4)})
    assert (task.length, task.input_length, task.vocab_size) == (5, 5, 10)
    x, y = task.sample(10, 0)
    assert np.array_equal(y, np.cumsum(x, axis=1) % 10)
    assert task.parse_order("odd-first") == (1, 3, 0, 2, 4)
    # a top-level function is found by its import path: a study can store it, workers import it
    assert task.spec()["import_path"] == "tests.tasks.test_custom:running_sum" and task.portable()
    nested = from_callable(lambda n, rng: running_sum(n, rng))
    assert not nested.portable()
    with pytest.raises(TaskConfigError, match="other processes cannot import.*top level of a .py file"):
        nested.spec()


def test_callable_by_import_path_roundtrips():
    task = from_callable("tests.tasks.test_custom:running_sum")
    assert task_from_spec(task.spec()).length == 5


def test_callable_bad_output():
    with pytest.raises(TaskConfigError, match=r"one target per row \(shape \(256,\)\).*shape \(n, L\)"):
        from_callable(lambda n, rng: (np.zeros((n, 3), int), np.zeros(n, int)))
    with pytest.raises(TaskConfigError, match=r"must return a pair \(x, y\), got a 3-tuple"):
        from_callable(lambda n, rng: (np.zeros((n, 3), int),) * 3)
    with pytest.raises(TaskConfigError, match=r"must return a pair \(x, y\), got ndarray"):
        from_callable(lambda n, rng: np.zeros((n, 3), int))
    with pytest.raises(TaskConfigError, match=r"x of shape \(256, inputs\) and y of shape \(256, L\), got \(256, 3\) and \(255, 3\)"):
        from_callable(lambda n, rng: (np.zeros((n, 3), int), np.zeros((n - 1, 3), int)))
    with pytest.raises(TaskConfigError, match="cannot import"):
        from_callable("nosuch_module_xyz:f")
    # the ways users get the convention wrong are named with the convention, not a bare TypeError
    with pytest.raises(TaskConfigError, match=r"generate\(n\) cannot be called as generate\(n, rng\)"):
        from_callable(lambda n: running_sum(n, np.random.default_rng(0)))
    with pytest.raises(TaskConfigError, match=r"raised AttributeError: .*calls generate\(n, rng\) with n the number of rows"):
        from_callable(lambda rng, n: running_sum(n, rng))
    with pytest.raises(TaskConfigError, match=r"got 256 items \(one per row\?\); .*zip\(\*rows\)"):
        from_callable(lambda n, rng: list(zip(*running_sum(n, rng))))
    with pytest.raises(TaskConfigError, match=r"a dict with keys 'a', 'b'; .*keys 'x' and 'y'"):
        from_callable(lambda n, rng: dict(zip("ab", running_sum(n, rng))))


def test_a_generator_may_return_a_dict_named_as_in_a_file():
    task = from_callable(lambda n, rng: dict(zip(("inputs", "targets"), running_sum(n, rng))))
    x, y = task.sample(10, 0)
    assert (task.input_length, task.length) == (5, 5) and np.array_equal(y, np.cumsum(x, axis=1) % 10)


def test_a_generator_of_one_input_per_row_and_of_large_ids():
    def one_input(n, rng):  # x as a 1-D array: one input token per row
        x = rng.integers(0, 1000, size=n)
        return x, np.stack([x % 10, x // 10 % 10, x // 100], axis=1)
    task = from_callable(one_input)
    assert (task.input_length, task.length) == (1, 3)
    x, y = task.sample(8, 0)
    assert x.shape == (8, 1) and np.array_equal(y[:, 0], x[:, 0] % 10)
    # ids beyond the embedding limit name what they are (ids, not a count of distinct values)
    with pytest.raises(TaskConfigError, match="token ids up to 90000; .*number the values"):
        from_callable(lambda n, rng: (rng.integers(0, 2, size=(n, 2)), rng.integers(0, 2, size=(n, 2)) * 90_000))


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_jsonl_dataset(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(300):
        x = rng.integers(-3, 4, size=4).tolist()
        rows.append({"input": x, "target": np.cumsum(x).tolist()})
    path = tmp_path / "sums.jsonl"
    write_jsonl(path, rows)
    task = from_file(path)
    assert task.length == 4 and task.offset > 0
    s = task.splits(1000, 20, 1000, seed=0)
    train_part, val_part, test_part = (len(p) for p in task.partition())  # 10% of the inputs each held out
    assert len(s.x_val) == 20 and len(s.x_train) == train_part and len(s.x_test) == test_part
    assert 25 <= min(val_part, test_part) <= max(val_part, test_part) <= 35 and train_part + val_part + test_part == 300
    train_keys = set(map(tuple, s.x_train.tolist()))
    assert not train_keys & set(map(tuple, s.x_val.tolist()))
    assert not train_keys & set(map(tuple, s.x_test.tolist()))
    assert s.short() and "has 300 rows" in s.shortfall_note("sums.jsonl", steps=100, batch_size=64)
    # split once: every request, seed and profile sees the same held-out rows
    other = task.splits(100, 20, 20, seed=5, profiling=True)
    assert len(other.x_train) == 100 and np.array_equal(other.x_test, s.x_test[:20])
    assert np.array_equal(other.x_val, s.x_val) and not set(map(tuple, other.x_train.tolist())) - train_keys
    assert not task.splits(100, 20, 20, seed=0).short()
    assert np.array_equal(task.values(s.y_train), np.cumsum(task.values(s.x_train), axis=1))
    assert resolve_task(str(path)).name == "sums.jsonl"


def test_npz_dataset(tmp_path):
    x = np.arange(200).reshape(100, 2) % 7
    y = (x * 2) % 7
    np.savez(tmp_path / "d.npz", x=x, y=y)
    task = from_file(tmp_path / "d.npz")
    assert (task.length, task.vocab_size) == (2, 7)
    assert task_from_spec(task.spec()).length == 2
    (tmp_path / "d.npz").rename(tmp_path / "moved.npz")  # what a worker on another machine meets
    with pytest.raises(DatasetError, match="study's task is the dataset file .*d.npz, which is not there on this machine"):
        task_from_spec(task.spec())


@pytest.mark.parametrize(
    "suffix, content, message",
    [
        (".jsonl", '{"input": [1, 2], "target": [3]}\n{"input": [1], "target": [3]}\n', "line 2: field 'input' has length 1, earlier rows have 2; pad every input"),
        (".jsonl", '{"input": [1, 2], "target": [3]}\nnot json\n', "line 2: not valid JSON"),
        (".jsonl", '{"input": [1, 2], "target": ["a"]}\n', "line 1: field 'target' \\(or 'y'\\) must be a list of integers"),
        (".jsonl", '{"input": [1, 2]}\n', "line 1: field 'target'.*the object has fields 'input'"),
        (".jsonl", '[{"input": [1, 2], "target": [3]}, {"input": [1, 2]}]', "item 1: field 'target'"),
        (".jsonl", "[1, 2]\n", "item 0: expected an object"),
        (".jsonl", '{"input": [1], "target": [2]}\n[1, 2]\n', "line 2: expected an object"),
        (".jsonl", "\n\n", "no samples"),
        (".csv", "1,2,3\n4,5,6\n", "column '1' is neither an input \\(x...\\) nor a target \\(y...\\) \\(the first row must be a header\\)"),
        (".csv", "a,x1,y0\n1,2,3\n", "column 'a' is neither"),
        (".csv", "x0,x1\n1,2\n", "the header names no target \\(y...\\) column"),
        (".csv", "x0,y0,y1\n1,2,3\n4,5\n", "line 3: 2 cells, the header has 3"),
        (".csv", "x0,y0,y1\n1,2,3\n4,,6\n", "line 3, column y0: '' is not a number"),
        (".csv", "x0,y0\n1,2.5\n", "a target column holds non-integer values \\(e.g. 2.5\\)"),
        (".csv", "x0,y0\n", "no samples below the header"),
        (".csv", "", "no header on the first line"),
    ],
)
def test_malformed_text_files(tmp_path, suffix, content, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        from_file(path)


def test_csv_dataset_columns_by_header(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(300, 2))
    first, second = (x[:, 0] + x[:, 1]) % 5, x[:, 0] * 10  # values 0, 10, .., 40: five tokens
    lines = ["\ufeffinput_a, y_second ,input_b,target_first"]  # Excel's byte-order mark, spaces, either prefix
    lines += [f"{a},{s}.0,{b},{f}" for (a, b), s, f in zip(x.tolist(), second.tolist(), first.tolist())]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    task = from_file(tmp_path / "d.csv")
    assert (task.length, task.input_length) == (2, 2)
    tokens_x, tokens_y = task.rows()
    # targets in the header's left-to-right order; values mapped back through Task.values
    assert np.array_equal(task.values(tokens_x), x)
    assert np.array_equal(task.values(tokens_y), np.stack([second, first], axis=1))
    assert task_from_spec(task.spec()).length == 2


def test_arrays_and_fields_go_by_the_names_users_give_them(tmp_path):
    x = np.arange(12).reshape(4, 3) % 5
    y = (x + 1) % 5
    np.savez(tmp_path / "a.npz", inputs=x, targets=y)
    np.savez(tmp_path / "b.npz", X=x, Y=y)
    rows = [{"inputs": a.tolist(), "targets": b.tolist()} for a, b in zip(x, y)]
    (tmp_path / "c.jsonl").write_text("\n".join(map(json.dumps, rows)), encoding="utf-8")
    for name in ("a.npz", "b.npz", "c.jsonl"):
        task = from_file(tmp_path / name)
        tokens_x, tokens_y = task.rows()
        assert np.array_equal(task.values(tokens_y), y), name
    (tmp_path / "d.jsonl").write_text(json.dumps({"input": ["a", "b"], "target": ["c", "d"]}), encoding="utf-8")
    with pytest.raises(DatasetError, match="number the distinct strings 0, 1, 2"):
        from_file(tmp_path / "d.jsonl")


def test_malformed_npz(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 2), int))
    with pytest.raises(DatasetError, match="missing array"):
        from_file(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x=np.full((3, 2), 0.5), y=np.zeros((3, 2), int))
    with pytest.raises(DatasetError, match=r"array x holds non-integer values \(e\.g\. 0\.5\)"):
        from_file(tmp_path / "b.npz")
    np.savez(tmp_path / "s.npz", x=np.array([["a", "b"]] * 3), y=np.zeros((3, 2), int))
    with pytest.raises(DatasetError, match="dtype <U1"):
        from_file(tmp_path / "s.npz")
    (tmp_path / "c.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="not an .npz archive") as info:
        from_file(tmp_path / "c.npz")
    assert "pickle" not in str(info.value)
    np.save(tmp_path / "d.npy", np.zeros((3, 2), int))
    (tmp_path / "d.npy").rename(tmp_path / "d.npz")  # an .npy file under an .npz name
    with pytest.raises(DatasetError, match="not an .npz archive"):
        from_file(tmp_path / "d.npz")
    with pytest.raises(DatasetError, match="does not exist"):
        from_file(tmp_path / "missing.npz")


def test_a_study_cannot_make_a_process_import_what_it_did_not_name(monkeypatch):
    import orderopt.tasks.custom as custom

    monkeypatch.setattr(custom, "_TRUSTED", set())
    spec = {"name": "callable", "import_path": "tests.tasks.test_custom:running_sum", "vocab_size": 10}
    with pytest.raises(TaskConfigError, match="named in the study storage, not by you.*--trust-import"):
        task_from_spec(spec)
    monkeypatch.setenv("ORDEROPT_TRUSTED_IMPORTS", "tests.tasks")  # a package prefix allows its modules
    assert task_from_spec(spec).length == 5
    monkeypatch.delenv("ORDEROPT_TRUSTED_IMPORTS")
    custom.trust_import("tests.tasks.test_custom:running_sum")
    assert task_from_spec(spec).length == 5


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((0, 3), np.int64), "y": np.zeros((0, 3), np.int64)}, "no samples"),
        ({"x": np.full((4, 3), 2**63, np.uint64), "y": np.zeros((4, 3), np.int64)},
         r"array x holds values up to 9223372036854775808;"),  # a plain number, not np.uint64(...)
        ({"x": np.zeros((4, 3), np.int64), "y": np.full((4, 3), -3_000_000_000)},
         r"array y holds values down to -3000000000;"),  # the value out of range, not the largest
        ({"x": np.zeros((70_000, 1), np.int64), "y": np.arange(70_000).reshape(-1, 1) * 3},
         "holds 70000 distinct values .*y holds 0..209997.*limit of 65536"),
    ],
)
def test_bad_dataset_values_are_refused_up_front(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=message) as info:
        from_file(path)
    assert "\n" not in str(info.value)


def test_sparse_file_values_become_dense_tokens(tmp_path):
    """Values 5, 105, .., 605 are 7 tokens, not 601: the same tokens as the file of 0..6."""
    x = np.random.default_rng(0).integers(0, 7, size=(400, 4))
    y = np.cumsum(x, axis=1) % 7
    np.savez(tmp_path / "dense.npz", x=x, y=y)
    np.savez(tmp_path / "sparse.npz", x=x * 100 + 5, y=y * 100 + 5)
    dense, sparse = from_file(tmp_path / "dense.npz"), from_file(tmp_path / "sparse.npz")
    assert dense.vocab_size == sparse.vocab_size == 7
    assert all(np.array_equal(a, b) for a, b in zip(dense.rows(), sparse.rows()))
    assert np.array_equal(sparse.values(sparse.rows()[1]), y * 100 + 5)
    scrambled = resolve_task(str(tmp_path / "sparse.npz"), scramble=1)
    assert np.array_equal(scrambled.values(scrambled.rows()[0]), x * 100 + 5)


def test_json_rows_read_in_bulk_match_the_row_by_row_reader(tmp_path):
    from orderopt.tasks.custom import _json_rows, _whole_arrays

    rows = [{"orders": {"ahead": [1, 0, 2]}}] + [{"x": [i % 5, 2.0], "y": [i % 3, -i % 4, 7]} for i in range(50)]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    listed, has_literals = _json_rows(path)
    x, y, orders = _whole_arrays(listed)
    assert not has_literals and x.dtype == y.dtype == np.int64 and orders == {"ahead": [1, 0, 2]}
    assert np.array_equal(y, [[i % 3, -i % 4, 7] for i in range(50)]) and np.array_equal(x[:, 1], np.full(50, 2))
    for odd in ('{"input": [1, 2.5], "target": [3]}', '{"input": [1, 2], "target": [3, 4]}\n{"input": [1], "target": [3, 4]}',
                '{"input": [[1], [2]], "target": [3]}', '{"input": [1, 2]}', '[1, 2]'):
        odd_path = tmp_path / "odd.jsonl"
        odd_path.write_text(odd + "\n")
        assert _whole_arrays(_json_rows(odd_path)[0]) is None  # left to the reader that names the line
    (tmp_path / "flags.jsonl").write_text('{"input": [true, 2], "target": [3]}\n')
    with pytest.raises(DatasetError, match="line 1: field 'input'"):
        from_file(tmp_path / "flags.jsonl")


def test_an_edited_dataset_file_is_read_again(tmp_path):
    path = tmp_path / "d.npz"
    x = np.arange(80).reshape(40, 2) % 3
    np.savez(path, x=x, y=x)
    assert from_file(path).vocab_size == 3
    np.savez(path, x=x, y=x * 2)
    assert from_file(path).vocab_size == 4  # values 0, 1, 2, 4


def test_huge_json_integers_and_too_many_targets(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text('{"input": [1, 2], "target": [100000000000000000000000, 1]}\n')
    with pytest.raises(DatasetError, match="line 1: field 'target' holds a value beyond"):
        from_file(path)
    long = tmp_path / "long.npz"
    np.savez(long, x=np.zeros((8, 2), np.int64), y=np.zeros((8, 300), np.int64))
    with pytest.raises(DatasetError, match="L=300 targets, above orderopt's limit of 256"):
        from_file(long)
    with pytest.raises(TaskConfigError, match="L=10000 targets is above orderopt's limit of 256"):
        resolve_task("square", 10000)


def test_a_generator_named_by_file_travels_to_other_processes(tmp_path):
    import pickle

    source = tmp_path / "mytask.py"
    source.write_text("import numpy as np\n\ndef generate(n, rng):\n    x = rng.integers(0, 5, size=(n, 3))\n"
                      "    return x, (x + 1) % 5\n\ngenerate.orders = {'backwards': [2, 1, 0]}\n")
    task = resolve_task(f"{source}:generate")
    assert task.name == "mytask" and task.parse_order("backwards") == (2, 1, 0)
    again = pickle.loads(pickle.dumps(task))  # what a training worker process receives
    assert again.spec() == task.spec() and np.array_equal(again.sample(8, 0)[1], task.sample(8, 0)[1])
    assert again.parse_order("backwards") == (2, 1, 0)


def test_whole_floats_and_booleans_are_tokens(tmp_path):
    """Data that passed through pandas (floats holding whole numbers) or booleans load as tokens."""
    x = np.arange(60).reshape(20, 3) % 5
    np.savez(tmp_path / "f.npz", x=x.astype(float), y=(x > 2))
    task = from_file(tmp_path / "f.npz")
    assert task.vocab_size == 5 and np.array_equal(task.rows()[1], (x > 2).astype(int))
    write_jsonl(tmp_path / "f.jsonl", [{"input": [float(i), 2], "target": [3.0]} for i in (1, 2, 3)])
    assert from_file(tmp_path / "f.jsonl").rows()[0].tolist() == [[0, 1], [1, 1], [2, 1]]  # 1 is the smallest
    task = from_callable(lambda n, rng: (rng.random((n, 4)) < 0.5, np.cumsum(rng.random((n, 2)) < 0.5, axis=1) * 1.0))
    assert task.sample(5, 0)[0].dtype == np.int64
    with pytest.raises(TaskConfigError, match="generate's y holds non-integer values"):
        from_callable(lambda n, rng: (np.zeros((n, 2), int), rng.random((n, 3))))


def three_digit_sums(n, rng):
    """A generator of only 1,000 distinct inputs: held-out rows unseen in training run out."""
    x = rng.integers(0, 10, size=(n, 3))
    return x, np.cumsum(x, axis=1) % 10


def test_a_generator_of_few_inputs_is_split_like_a_file():
    task = from_callable(three_digit_sums)
    x, y = task.rows()
    assert len(x) == 1000 and len(set(map(tuple, x.tolist()))) == 1000
    s = task.splits(100_000, 1_000, 2_000, seed=0)  # the cpu preset's request
    assert s.sizes == (800, 100, 100) and s.short()
    train_keys = set(map(tuple, s.x_train.tolist()))
    assert not train_keys & set(map(tuple, s.x_val.tolist())) and not train_keys & set(map(tuple, s.x_test.tolist()))
    note = task.data_note(100_000, 1_000, 2_000, steps=1_500, batch_size=256)
    assert "draws only 1,000 distinct inputs" in note and "more distinct inputs" in note
    probe_x, _ = task.sample(500, 0)  # what reads the task's data never sees a test row
    assert not set(map(tuple, probe_x.tolist())) & set(map(tuple, s.x_test.tolist()))


def test_a_generator_of_many_inputs_draws_fresh_rows():
    task = from_callable(running_sum)
    assert task.rows() is None and task.data_note(100, 10, 10) is None
    assert task.splits(2_000, 128, 128, seed=0).sizes == (2_000, 128, 128)


def test_a_generator_that_ignores_its_rng_is_refused():
    """Unseeded global draws change the data from run to run; a fixed seed inside repeats it."""
    def global_numpy(n, rng):
        x = np.random.randint(0, 5, size=(n, 3))
        return x, (x + 1) % 5

    def seeded_inside(n, rng):
        x = np.random.default_rng(7).integers(0, 5, size=(n, 3))
        return x, (x + 1) % 5

    with pytest.raises(TaskConfigError, match="different rows for the same seed.*from the rng argument"):
        from_callable(global_numpy)
    with pytest.raises(TaskConfigError, match="same rows for two different seeds.*from the rng argument"):
        from_callable(seeded_inside)
    constant = from_callable(lambda n, rng: (np.zeros((n, 2), int), np.ones((n, 2), int)))  # one input: fine
    assert constant.length == 2


def rare_large_value(n, rng):
    """Its largest value (9) turns up about once in 5,000 rows: rarely in a 256-row sample."""
    x = rng.integers(0, 5, size=(n, 4))
    x[rng.random(n) < 2e-4, 0] = 9
    return x, np.cumsum(x, axis=1) % 10


def test_generator_tokens_set_the_vocabulary_from_a_large_draw():
    assert from_callable(rare_large_value).vocab_size == 10
    with pytest.raises(TaskConfigError, match="returns token ids, integers from 0: shift its values up"):
        from_callable(lambda n, rng: (rng.integers(-3, 3, (n, 2)), rng.integers(0, 3, (n, 2))))
    declared = lambda n, rng: (rng.integers(0, 3, (n, 2)), rng.integers(0, 3, (n, 2)))  # noqa: E731
    declared.vocab_size = 12
    task = from_callable(declared)
    assert task.vocab_size == 12
    task.vocab_size = 2
    with pytest.raises(TaskConfigError, match="set generate.vocab_size"):
        task.sample(100, 0)


def test_json_array_files_and_x_y_fields(tmp_path):
    """What users write without reading the format: ``json.dump(rows, f)`` and fields named x / y."""
    rows = [{"x": [i % 7, i % 5], "y": [(i % 7 + i % 5) % 4]} for i in range(40)]
    (tmp_path / "rows.json").write_text(json.dumps([{"orders": {"only": [0]}}] + rows))
    task = from_file(tmp_path / "rows.json")
    assert len(task.rows()[0]) == 40 and task.parse_order("only") == (0,)
    write_jsonl(tmp_path / "rows.jsonl", rows)
    assert np.array_equal(from_file(tmp_path / "rows.jsonl").rows()[1], task.rows()[1])


def test_a_generator_file_imports_its_sibling_modules(tmp_path):
    """As under ``python task.py``: the file's own folder is searched for the modules it imports."""
    folder = tmp_path / "mytask"
    folder.mkdir()
    (folder / "digits_helper.py").write_text("def draw(n, rng):\n    return rng.integers(0, 10, (n, 6))\n")
    (folder / "task.py").write_text("import numpy as np\nfrom digits_helper import draw\n\n"
                                    "def generate(n, rng):\n    x = draw(n, rng)\n    return x, np.cumsum(x, 1) % 10\n")
    task = from_callable(f"{folder / 'task.py'}:generate")
    assert task.length == 6 and task_from_spec(task.spec()).length == 6
