"""Runs inside the snntoolbox venv (made by benchmarks/bench_snntoolbox.py): snntoolbox 0.6's own pipeline
on the benchmark's Keras model, then its INI simulator (temporal mean rate) timed at each batch size
and run length. No snntoolbox code is patched or replaced.

``WORK`` holds ``model.h5`` (the trained Keras model, output ``H' × W' × classes`` logits) and the npz files
snntoolbox reads (``x_norm.npz``, ``x_test.npz``, ``y_test.npz``, each ``arr_0``); ``SPEC.json`` says what
to run. Steps, each snntoolbox's own function as ``snntoolbox.bin.utils.run_pipeline`` calls it:

1. ``get_dataset`` (npz), ``keras_input_lib.load``, ``ModelParser.parse`` / ``build_parsed_model``,
   ``normalize_parameters`` on ``x_norm`` (data-based, one scale per layer, ``percentile``);
2. per batch size B and run length T: ``SNN(config)`` with ``batch_size = B`` and ``duration = T``,
   ``build(parsed_model)``; one warm-up tick (``predict_on_batch``, which traces the Keras model) and
   ``reset``; then, as ``AbstractSNN.run`` does per batch, ``simulate(x_b_l=…, truth_b=…)`` and ``reset``
   over the images — only the ``simulate`` calls are timed (wall and CPU seconds);
3. per batch size at the longest T: the network's step alone, T calls of the SNN Keras model's
   ``predict_on_batch`` (what ``simulate`` calls once per tick) on one batch, timed the same way, as often.

snntoolbox's INI simulator records the output layer as a ``(batch, classes, ticks)`` array, so the model
it parses is the benchmark's model with a parameter-free ``Flatten`` appended (values unchanged; the
"classes" are the ``H'·W'·classes`` output neurons). The final spike counts are written per image
(``counts.npz``, ``H' × W' × classes``) so the parent scores them per pixel. Writes ``peer.json``.

    python snntoolbox_peer.py WORK SPEC.json
"""

import configparser
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def make_config(work: Path, spec: dict, batch: int, ticks: int) -> configparser.ConfigParser:
    """snntoolbox's defaults overlaid with this run's settings, checked by its own ``update_setup``."""
    from snntoolbox.bin.utils import update_setup

    config = configparser.ConfigParser()
    config.optionxform = str  # snntoolbox's own choice (keys are case-sensitive)
    config["paths"] = {"path_wd": str(work), "dataset_path": str(work), "filename_ann": "model_flat",
                       "log_dir_of_current_run": str(work / "log")}
    config["tools"] = {"evaluate_ann": "False", "normalize": "True"}
    config["normalization"] = {"percentile": str(spec["percentile"])}
    config["simulation"] = {"simulator": "INI", "duration": str(ticks), "dt": "1", "batch_size": str(batch),
                            "num_to_test": str(spec["images"]), "keras_backend": "tensorflow"}
    config["cell"] = {"v_thresh": "1", "reset": "Reset by subtraction"}
    config["output"] = {"verbose": "0", "log_vars": "{}", "plot_vars": "{}"}
    path = work / f"config_b{batch}_t{ticks}.ini"
    with open(path, "w") as f:
        config.write(f)
    return update_setup(str(path))


def flat_model(work: Path):
    """The benchmark's model with a ``Flatten`` appended, saved where snntoolbox's loader looks."""
    from tensorflow import keras

    model = keras.models.load_model(work / "model.h5", compile=False)
    flat = keras.Model(model.input, keras.layers.Flatten()(model.output))
    flat.compile("sgd", "categorical_crossentropy")  # snntoolbox's loader recompiles with the saved loss
    flat.save(work / "model_flat.h5")
    return model.output_shape[1:]


def parse(config):
    """snntoolbox's parsing and normalization (run_pipeline's steps 1-2); the parsed Keras model."""
    from snntoolbox.conversion.utils import normalize_parameters
    from snntoolbox.datasets.utils import get_dataset
    from snntoolbox.parsing.model_libs import keras_input_lib

    normset, testset = get_dataset(config)
    model = keras_input_lib.load(config.get("paths", "path_wd"), config.get("paths", "filename_ann"))["model"]
    parser = keras_input_lib.ModelParser(model, config)
    parser.parse()
    parsed = parser.build_parsed_model()
    normalize_parameters(parsed, config, **normset)
    return parsed, testset["x_test"]


def build(parsed, config):
    """The INI SNN of ``parsed`` at the config's batch size and duration, traced by one warm-up tick."""
    from snntoolbox.simulation.target_simulators.INI_temporal_mean_rate_target_sim import SNN

    snn = SNN(config)
    snn.build(parsed)
    snn.init_log_vars()
    snn.init_cells()
    snn.snn.predict_on_batch(np.zeros(snn.snn.input_shape[1:], np.float32)[None].repeat(snn.batch_size, 0))
    snn.reset(0)
    return snn


def simulate(snn, x: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Wall and CPU seconds of INI's ``simulate`` over all of ``x`` (batch by batch, ``reset`` between, as
    ``AbstractSNN.run`` does) and the final output spike counts ``(N, classes)``."""
    wall = cpu = 0.0
    counts = []
    b = snn.batch_size
    for i in range(len(x) // b):
        x_b = x[i * b:(i + 1) * b]
        w0, c0 = time.perf_counter(), time.process_time()
        out = snn.simulate(x_b_l=x_b, truth_b=np.zeros(b, int))
        wall, cpu = wall + time.perf_counter() - w0, cpu + time.process_time() - c0
        counts.append(out[:, :, -1])
        snn.reset(i)
    return wall, cpu, np.concatenate(counts)


def network_step(snn, x: np.ndarray, ticks: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``ticks`` calls of the SNN Keras model's ``predict_on_batch`` on one batch."""
    x_b = x[:snn.batch_size] * snn._dt
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(ticks):
        snn.snn.predict_on_batch(x_b)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    snn.reset(0)
    return wall, cpu


def main() -> int:
    work, spec = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    out_shape = flat_model(work)
    parsed, x_test = parse(make_config(work, spec, 1, max(spec["ticks"])))
    doc = {"runs": [], "parsed_layers": [[layer.__class__.__name__, list(layer.output_shape[1:])]
                                         for layer in parsed.layers]}
    counts = {}
    for row in spec["batches"]:
        batch, n = row["batch"], row["images"]
        for ticks in spec["ticks"]:
            snn = build(parsed, make_config(work, spec, batch, ticks))
            doc.update(neurons=int(sum(snn.num_neurons[1:])), synapses=int(snn.num_synapses))
            for rep in range(spec["repeats"]):
                wall, cpu, final = simulate(snn, x_test[:n])
                doc["runs"].append({"batch": batch, "images": n, "ticks": ticks, "repeat": rep,
                                    "wall_seconds": wall, "cpu_seconds": cpu, "load_average": list(os.getloadavg())})
                print(f"snntoolbox INI batch {batch}, {n} images, {ticks} ticks: {wall:.1f} s "
                      f"({wall / n / ticks * 1e3:.2f} ms per image-tick)", file=sys.stderr, flush=True)
            counts[f"b{batch}_t{ticks}"] = final.reshape((len(final),) + tuple(out_shape))
        for rep in range(spec["repeats"]):  # on the SNN built last: the longest run's
            wall, cpu = network_step(snn, x_test, ticks)
            doc["runs"].append({"batch": batch, "images": batch, "ticks": ticks, "repeat": rep,
                                "network_step_only": True, "wall_seconds": wall, "cpu_seconds": cpu,
                                "load_average": list(os.getloadavg())})
    np.savez_compressed(work / "counts.npz", **counts)
    (work / "peer.json").write_text(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
