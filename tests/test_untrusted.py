"""Files from strangers and bad arguments (issue 14 §2, SECURITY.md).

Every hostile model (``.h5``), spiking network (``.snn.h5``) or chip (``.toml``) given to the CLI
ends in one clear line naming the file and exit code 1: no traceback, no code executed, no output
file, no large allocation. Bad arguments are usage errors (exit 2) naming what is valid. The fuzz
tests (hypothesis) mutate valid files and require a loaded object or our one-line error.
"""

from __future__ import annotations

import shutil
import tracemalloc

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from itnet_neuro.cli import main
from itnet_neuro.errors import SchemaError
from itnet_neuro.ir import Network, load_network, save_network
from itnet_neuro.ir.examples import tiny_iterative_network


def _cli_refuses(argv, capsys, name) -> str:
    """Run the CLI; assert exit 1 and one stderr line naming ``name``; return that line."""
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1, err
    assert len(err) == 1 and name in err[0] and "Traceback" not in err[0], err
    return err[0]


# ---------------------------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    inp = tf.keras.Input((8, 8, 3), name="image")
    h = tf.keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    h = tf.keras.layers.ReLU(name="relu")(h)
    out = tf.keras.layers.Conv2D(2, 1, name="head")(h)
    path = tmp_path_factory.mktemp("models") / "ok.h5"
    tf.keras.Model(inp, out).save(str(path), save_format="h5")
    return path


def _variant(src, tmp_path, name, edit=None):
    path = tmp_path / name
    shutil.copy(src, path)
    if edit is not None:
        with h5py.File(path, "a") as f:
            edit(f)
    return path


def _config_edit(old, new):
    def edit(f):
        f.attrs["model_config"] = f.attrs["model_config"].replace(old, new)
    return edit


def _replace_dataset(name, **kw):
    def edit(f):
        found = []
        f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) and n.endswith(name) else None)
        parent, key = found[0].rsplit("/", 1)
        del f[parent][key]
        f[parent].create_dataset(key, **kw)
    return edit


MODEL_CASES = {
    "lambda": (_config_edit('"class_name": "ReLU"', '"class_name": "Lambda"'), "Lambda"),
    "unknown custom object": (_config_edit('"class_name": "ReLU"', '"class_name": "evil>Backdoor"'), "Backdoor"),
    "memory bomb in the config": (_config_edit('"filters": 4', '"filters": 10000000'), "parameters"),
    "memory bomb in a dataset": (_replace_dataset("head/kernel:0", shape=(10**5, 10**5), dtype="f4",
                                                  chunks=(64, 64)), "limit"),
    "declared but never written": (_replace_dataset("head/kernel:0", shape=(5000, 5000), dtype="f4",
                                                    chunks=(64, 64)), "stores"),
    "NaN weights": (_replace_dataset("conv/kernel:0", data=np.full((3, 3, 3, 4), np.nan, "f4")), "NaN"),
    "inconsistent weight shape": (_replace_dataset("conv/kernel:0", data=np.zeros((3, 3, 3, 5), "f4")),
                                  "cannot load"),
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_hostile_model_is_one_line_exit_1(case, keras_file, tmp_path, capsys, monkeypatch):
    edit, expect = MODEL_CASES[case]
    path = _variant(keras_file, tmp_path, "hostile.h5", edit)
    if case != "inconsistent weight shape":  # refused before Keras sees the file
        from itnet_neuro.utils import import_tf

        def never(*a, **k):
            raise AssertionError("Keras must not read a refused file")
        monkeypatch.setattr(import_tf().keras.models, "load_model", never)
    out = tmp_path / "out.snn.h5"
    line = _cli_refuses(["convert", str(path), "-o", str(out)], capsys, "hostile.h5")
    assert expect in line
    assert not out.exists()


@pytest.mark.parametrize("case", ["truncated", "png renamed .h5", "empty"])
def test_broken_model_file_is_one_line_exit_1(case, keras_file, tmp_path, capsys):
    path = tmp_path / "broken.h5"
    if case == "truncated":
        data = keras_file.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif case == "png renamed .h5":
        import matplotlib.pyplot as plt

        plt.imsave(path.with_suffix(".png"), np.zeros((4, 4)))
        path.with_suffix(".png").rename(path)
    else:
        path.write_bytes(b"")
    _cli_refuses(["convert", str(path), "-o", str(tmp_path / "o.snn.h5")], capsys, "broken.h5")


# ------------------------------------------------------------------------------------- spiking networks


@pytest.fixture(scope="module")
def ir_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ir") / "net.snn.h5"
    save_network(tiny_iterative_network(), path)
    return path


def _set_attr(obj, key, value):
    def edit(f):
        f[obj].attrs[key] = value if obj else None
    if not obj:
        return lambda f: f.attrs.__setitem__(key, value)
    return edit


IR_CASES = {
    "another schema version": (lambda f: f.attrs.__setitem__("schema_version", 99), "schema version 99"),
    "inconsistent shapes": (_set_attr("populations/hidden", "shape", [4, 5, 4]), "hidden"),
    "absurd population": (_set_attr("populations/hidden", "shape", [4, 10**6, 10**6]), "neurons"),
    "memory bomb": (_replace_dataset("hidden_to_state/weight", shape=(10**5, 10**5), dtype="f4",
                                     chunks=(64, 64)), "limit"),
    "NaN weights": (_replace_dataset("state_to_hidden/weight", data=np.full((4, 4, 3, 3), np.nan, "f4")), "NaN"),
    "text where a number belongs": (_set_attr("connections/state_to_hidden", "stride", "x"), "malformed"),
    "external link": (lambda f: f.__setitem__("extra", h5py.ExternalLink("/etc/passwd", "/")), "ExternalLink"),
}


@pytest.mark.parametrize("case", sorted(IR_CASES))
def test_hostile_network_is_one_line_exit_1(case, ir_file, tmp_path, capsys):
    edit, expect = IR_CASES[case]
    path = _variant(ir_file, tmp_path, "hostile.snn.h5", edit)
    out = tmp_path / "alloc.json"
    line = _cli_refuses(["allocate", str(path), "--chip", "loihi", "-o", str(out), "--plot", "none"], capsys,
                        "hostile.snn.h5")
    assert expect in line
    assert not out.exists()


def test_truncated_network_is_one_line_exit_1(ir_file, tmp_path, capsys):
    path = tmp_path / "cut.snn.h5"
    path.write_bytes(ir_file.read_bytes()[:3000])
    _cli_refuses(["export", str(path), "--format", "nengo"], capsys, "cut.snn.h5")


# ----------------------------------------------------------------------------------------------- chips


CHIP_CASES = {
    "wrong type": ("max_neurons = 1024", 'max_neurons = "many"', "must be an integer"),
    "negative limit": ("max_neurons = 1024", "max_neurons = -1", "must be > 0"),
    "huge limit": ("max_neurons = 1024", "max_neurons = 9223372036854775807", "magnitude"),
    "huge mesh": ("mesh_rows = 8", "mesh_rows = 1000000000", "mesh_rows"),
    "unknown key": ("max_neurons = 1024", "max_neurons = 1024\nmax_neurones = 1", "max_neurones"),
    "not TOML": ("max_neurons = 1024", "max_neurons = = 1024", "loihi"),
}


@pytest.mark.parametrize("case", sorted(CHIP_CASES))
def test_hostile_chip_is_one_line_exit_1(case, ir_file, tmp_path, capsys):
    from hardware_models.spec import PACKAGED_CHIPS_DIR

    old, new, expect = CHIP_CASES[case]
    text = (PACKAGED_CHIPS_DIR / "loihi.toml").read_text()
    assert old in text
    path = tmp_path / "loihi.toml"
    path.write_text(text.replace(old, new, 1))
    line = _cli_refuses(["allocate", str(ir_file), "--chip", str(path), "-o", str(tmp_path / "a.json"),
                         "--plot", "none"], capsys, "loihi.toml")
    assert expect in line


# ---------------------------------------------------------------------------------------- usage errors


USAGE_CASES = [
    (["simulate", "--ticks", "-5"], "--ticks", ">= 1"),
    (["simulate", "--images", "0"], "--images", ">= 1"),
    (["simulate", "--data", "camvid:/no/such/folder"], "--data", "cityscapes:DIR"),
    (["simulate", "--chip", "nochip"], "--chip", "loihi"),
    (["simulate", "--backend", "nobackend"], "--backend", "brian2"),
    (["allocate", "--chip", "nochip"], "--chip", "truenorth"),
    (["compare", "--chips", "loihi,nochip"], "--chips", "truenorth"),
    (["train", "--epochs", "0"], "--epochs", ">= 1"),
    (["train", "--data", "cityscapes:/no/such/folder"], "--data", "synthetic"),
    (["convert", "--percentile", "200"], "--percentile", "(0, 100]"),
    (["demo", "--ticks", "0"], "--ticks", ">= 1"),
]


@pytest.mark.parametrize("argv,arg,valid", USAGE_CASES, ids=[" ".join(c[0]) for c in USAGE_CASES])
def test_bad_argument_is_usage_error_naming_valid_choices(argv, arg, valid, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert arg in err and valid in err, err


# ------------------------------------------------------------------------------------------------ fuzz

VALUES = st.one_of(st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=40), st.lists(st.integers(-3, 10**6), max_size=5),
                   st.sampled_from(["[[[[", "null", "[1, 2]", "{}", "[" * 5000, "1" * 5000]))
IR_MUTATIONS = st.one_of(
    st.tuples(st.just("attr"), st.integers(0, 10**6), VALUES),
    st.tuples(st.just("dataset"), st.integers(0, 10**6), st.sampled_from(["huge", "text", "nan", "shape", "empty"])),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.none()),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.none()),
    st.tuples(st.just("flip"), st.integers(0, 2**32), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                                  min_size=1, max_size=12)),
)
_NEW_DATASET = {
    "huge": dict(shape=(10**5, 10**5), dtype="f4", chunks=(64, 64)),
    "text": dict(data=np.array(["a"], dtype=h5py.string_dtype())),
    "nan": dict(data=np.full((4,), np.nan, "f4")),
    "shape": dict(data=np.zeros((3, 1, 2), "f4")),
    "empty": dict(data=np.zeros((0,), "f4")),
}


def _mutate_ir(src, dst, mutation):
    kind, k, arg = mutation
    if kind in ("truncate", "flip"):
        data = bytearray(src.read_bytes())
        if kind == "truncate":
            data = data[:k % len(data)]
        for pos, byte in (arg or ()):
            data[pos % len(data)] = byte
        dst.write_bytes(bytes(data))
        return
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        objs = [f]
        f.visititems(lambda n, o: objs.append(o))
        obj = objs[k % len(objs)]
        if kind == "attr":
            keys = list(obj.attrs)
            assume(keys)
            try:
                obj.attrs[keys[k % len(keys)]] = arg
            except (TypeError, ValueError, OverflowError):
                assume(False)
        elif kind == "dataset":
            dsets = [o for o in objs if isinstance(o, h5py.Dataset)]
            ds = dsets[k % len(dsets)]
            parent, name = ds.parent, ds.name.rsplit("/", 1)[1]
            del parent[name]
            parent.create_dataset(name, **_NEW_DATASET[arg])
        else:
            assume(obj.name != "/")
            del f[obj.name]


def _check_ir_reader(src, tmp_path, mutation):
    path = tmp_path / "fuzz.snn.h5"
    _mutate_ir(src, path, mutation)
    tracemalloc.start()
    try:
        net = load_network(path)
        assert isinstance(net, Network)
    except SchemaError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 64 << 20, f"reading a {path.stat().st_size}-byte file allocated {peak} bytes"


_FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings(max_examples=12, **_FUZZ)
@given(mutation=IR_MUTATIONS)
def test_fuzz_ir_reader_short(ir_file, tmp_path, mutation):
    _check_ir_reader(ir_file, tmp_path, mutation)


@pytest.mark.slow
@settings(max_examples=400, **_FUZZ)
@given(mutation=IR_MUTATIONS)
def test_fuzz_ir_reader(ir_file, tmp_path, mutation):
    _check_ir_reader(ir_file, tmp_path, mutation)


@pytest.mark.slow
def test_a_file_that_crashes_libhdf5_is_one_line(ir_file, tmp_path):
    """Byte flips that make libhdf5 itself crash (SIGSEGV) kill the checking child, not us."""
    import random

    for seed in range(400):
        rng = random.Random(seed)
        flips = [(rng.randrange(10**6), rng.randrange(256)) for _ in range(rng.randint(1, 20))]
        path = tmp_path / f"crash{seed}.snn.h5"
        _mutate_ir(ir_file, path, ("flip", 0, flips))
        try:
            load_network(path)
        except SchemaError as exc:
            if "crashed" in str(exc):
                assert "\n" not in str(exc) and "SIG" in str(exc)
                return
    pytest.fail("no byte flip in 400 crashed libhdf5; the crash path went untested")


TOML_VALUES = st.sampled_from(["-1", "0", "9223372036854775807", "-9223372036854775808", "1e308", "nan", "inf",
                               '"x"', '""', "[1, 2]", "[]", "true", "{a = 1}", '"none"', "1.5", "4294967296",
                               "1099511627777", "[-1]", '"' + "a" * 3000 + '"'])
CHIP_MUTATIONS = st.tuples(st.sampled_from(["value", "unknown", "delete", "garbage"]), st.integers(0, 10**6),
                           TOML_VALUES, st.sampled_from(["loihi", "truenorth", "dynapcnn", "brainscales2",
                                                         "spinnaker", "ideal"]))


def _check_chip_loader(tmp_path, mutation):
    from hardware_models.errors import SpecError
    from hardware_models.spec import PACKAGED_CHIPS_DIR, ChipSpec, load_chip
    from itnet_neuro.errors import ItnetNeuroError
    from mapping.allocate import plan
    from mapping.testing import random_network

    kind, k, value, chip = mutation
    lines = (PACKAGED_CHIPS_DIR / f"{chip}.toml").read_text().split("\n")
    keyed = [i for i, line in enumerate(lines) if " = " in line and not line.startswith(" ")]
    i = keyed[k % len(keyed)]
    if kind == "value":
        lines[i] = lines[i].split(" = ")[0] + " = " + value
    elif kind == "unknown":
        lines.insert(i, "unknown_key = " + value)
    elif kind == "delete":
        del lines[i]
    else:
        lines[i] = lines[i][:k % (len(lines[i]) + 1)] + value[:1]
    path = tmp_path / f"{chip}.toml"
    path.write_text("\n".join(lines))
    try:
        spec = load_chip(path)
    except SpecError as exc:
        assert "\n" not in str(exc) and path.name in str(exc)
        return
    assert isinstance(spec, ChipSpec)
    net = random_network(np.random.default_rng(k))
    for schedule in ("unrolled", "looped"):
        try:
            plan(net, spec, schedule)
        except (SpecError, ItnetNeuroError) as exc:
            assert "\n" not in str(exc)


@settings(max_examples=30, **_FUZZ)
@given(mutation=CHIP_MUTATIONS)
def test_fuzz_chip_loader_short(tmp_path, mutation):
    _check_chip_loader(tmp_path, mutation)


@pytest.mark.slow
@settings(max_examples=600, **_FUZZ)
@given(mutation=CHIP_MUTATIONS)
def test_fuzz_chip_loader(tmp_path, mutation):
    _check_chip_loader(tmp_path, mutation)


@pytest.mark.slow
@pytest.mark.parametrize("target,runs", [("chip", 3000), ("alloc", 3000), ("ir", 30)])
def test_atheris_finds_nothing(target, runs, tmp_path):
    """Coverage-guided fuzzing (atheris, optional: ``pip install -e '.[fuzz]'``) of the same readers."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("atheris")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="2")
    r = subprocess.run([sys.executable, str(root / "scripts" / "fuzz_atheris.py"), target, f"-atheris_runs={runs}",
                        "-max_len=65536", "-seed=1"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.slow
def test_a_file_that_makes_libhdf5_loop_is_refused_in_time():
    """Found by atheris: this 43 kB file sends libhdf5 1.12 into an endless loop; the child is killed."""
    import time
    from pathlib import Path

    from itnet_neuro.untrusted import TIMEOUT_BASE_S

    path = Path(__file__).parent / "data" / "hdf5_loops.snn.h5"
    t0 = time.monotonic()
    with pytest.raises(SchemaError) as err:
        load_network(path)
    assert "\n" not in str(err.value) and path.name in str(err.value)
    assert time.monotonic() - t0 < TIMEOUT_BASE_S + 30


# ------------------------------------------------------------------------------------------ alloc.json


@pytest.fixture(scope="module")
def alloc_file(ir_file):
    from mapping import allocfile
    from mapping.allocate import plan

    path = ir_file.parent / "alloc.json"
    allocfile.write(plan(load_network(ir_file), "loihi", "looped"), path)
    return path


def _json_edit(fn):
    def edit(text):
        import json

        doc = json.loads(text)
        fn(doc)
        return json.dumps(doc, indent=1)
    return edit


def _widen_first_tile(doc):
    """Tile 0 of core 0 claims channels [0, 99): every count adjusted so only the shape is wrong."""
    core, tile = doc["cores"][0], doc["cores"][0]["tiles"][0]
    per_channel = (tile["rows"][1] - tile["rows"][0]) * (tile["cols"][1] - tile["cols"][0])
    extra = (99 - (tile["channels"][1] - tile["channels"][0])) * per_channel
    tile.update(channels=[0, 99], own=tile["own"] + extra, neurons=tile["neurons"] + extra)
    core["neurons"] += extra


ALLOC_CASES = {
    "another schema version": (_json_edit(lambda d: d.__setitem__("schema_version", 1)), "schema"),
    "made for another network": (_json_edit(lambda d: d["input"].__setitem__("shape", [3, 16, 16])),
                                 "made for an input of shape"),
    "a population it does not have": (_json_edit(lambda d: d["cores"][0]["tiles"][0].__setitem__(
        "population", "ghost")), "'ghost'"),
    "a tile beyond its population": (_json_edit(_widen_first_tile), "beyond its shape"),
    "wrong type": (_json_edit(lambda d: d.__setitem__("cores_used", "one")), "cores_used"),
    "counts that do not add up": (_json_edit(lambda d: d["cores"][0].__setitem__("axons", 1)), "axons"),
    "truncated": (lambda text: text[:len(text) // 2], "alloc.json"),
    "deeply nested": (lambda text: text.replace('"notes": [', '"notes": [' + "[" * 100000, 1), "alloc.json"),
    "not UTF-8": (lambda text: text.replace('"tiles"', '"ti\udcfflles"', 1), "alloc.json"),
}


@pytest.mark.parametrize("case", sorted(ALLOC_CASES))
def test_hostile_allocation_is_one_line_exit_1(case, ir_file, alloc_file, tmp_path, capsys):
    edit, expect = ALLOC_CASES[case]
    path = tmp_path / "alloc.json"
    path.write_bytes(edit(alloc_file.read_text()).encode("utf-8", "surrogateescape"))
    out = tmp_path / "results.json"
    line = _cli_refuses(["simulate", str(ir_file), "--alloc", str(path), "--ticks", "8", "--images", "1",
                         "-o", str(out)], capsys, "alloc.json")
    assert expect in line
    assert not out.exists()


ALLOC_VALUES = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.none(), st.booleans(),
                         st.text(max_size=20), st.lists(st.integers(-5, 10**9), max_size=4),
                         st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
ALLOC_MUTATIONS = st.one_of(
    st.tuples(st.just("value"), st.integers(0, 10**6), ALLOC_VALUES),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.none()),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.none()),
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                               min_size=1, max_size=8)),
)


def _json_paths(obj, prefix=()):
    yield prefix
    items = obj.items() if isinstance(obj, dict) else enumerate(obj[:4]) if isinstance(obj, list) else ()
    for k, v in items:
        yield from _json_paths(v, prefix + (k,))


def _check_alloc_reader(src, net, tmp_path, mutation):
    import json

    from hardware_models.errors import SpecError
    from itnet_neuro.errors import ItnetNeuroError
    from itnet_neuro.sim.experiment import check_allocation_matches
    from mapping import allocfile

    kind, k, arg = mutation
    path = tmp_path / "alloc.json"
    if kind in ("truncate", "flip"):
        data = bytearray(src.read_bytes())
        data = data[:k % len(data)] if kind == "truncate" else data
        for pos, byte in (arg or ()):
            data[pos % len(data)] = byte
        path.write_bytes(bytes(data))
    else:
        doc = json.loads(src.read_text())
        paths = list(_json_paths(doc))[1:]
        where = paths[k % len(paths)]
        parent = doc
        for key in where[:-1]:
            parent = parent[key]
        if kind == "delete":
            del parent[where[-1]]
        else:
            parent[where[-1]] = arg
        path.write_text(json.dumps(doc, indent=(None if k % 2 else 2)))
    try:
        alloc = allocfile.read(path)
        check_allocation_matches(alloc, net, path)
    except (ItnetNeuroError, SpecError) as exc:
        assert "\n" not in str(exc) and "alloc.json" in str(exc), str(exc)


@settings(max_examples=40, **_FUZZ)
@given(mutation=ALLOC_MUTATIONS)
def test_fuzz_alloc_reader_short(ir_file, alloc_file, tmp_path, mutation):
    _check_alloc_reader(alloc_file, load_network(ir_file), tmp_path, mutation)


@pytest.mark.slow
@settings(max_examples=1000, **_FUZZ)
@given(mutation=ALLOC_MUTATIONS)
def test_fuzz_alloc_reader(ir_file, alloc_file, tmp_path, mutation):
    _check_alloc_reader(alloc_file, load_network(ir_file), tmp_path, mutation)
