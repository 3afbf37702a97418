"""Per image-tick beside snntoolbox 0.6's INI simulator on one ~45 k-neuron segmentation CNN (issue 17).

The net (:func:`build_model`): input 48×64×3, three ReLU convolutions with 'same' padding (3×3 to 8
channels; 2×2 stride 2 to 16; 2×2 stride 2 to 40), then a linear 1×1 classifier to CamVid's 11 classes at
every pixel of the 12×16 output — 44,544 ReLU units, only layers both tools convert. Trained for a few
seconds (fixed seed) on the synthetic street scenes (1,000 training images, labels as the majority class
of each 4×4 block, void ignored); model and data go to a work folder outside the repository. The same
weights go to both tools, normalized the same way (data-based, one scale per layer, the 99.9th percentile
of positive activations on the same 32 validation images, initial membrane potential 0, reset by
subtraction, analog input current):

* **ours**: :func:`itnet_neuro.convert.convert_model`, then ``simulate(..., backend="fast", batch_size=B)``
  in this process (the classifier becomes the readout: no neurons);
* **snntoolbox 0.6.0**: its own parse, normalization and INI simulator (``temporal_mean_rate``) in a venv
  of its own (``benchmarks/.venvs/snntoolbox``, made here when missing: snntoolbox 0.6.0, TensorFlow
  2.12.1 — the same TensorFlow as ours — numpy 1.23.5), run by ``benchmarks/peers/snntoolbox_peer.py``
  (the classifier is a layer of spiking neurons there; a parameter-free Flatten is appended because INI
  records its output as ``(batch, classes)``).

Timed: the simulation only, warm (after a warm-up run that builds and traces everything), wall clock,
best of ``--repeats``: ours the ``simulate`` call, snntoolbox its ``SNN.simulate`` calls (one per batch;
parsing, normalization and building excluded). Per image-tick = the difference of two run lengths
(``--ticks``, 100 and 200) over the images and the extra ticks, which cancels per-run set-up on both
sides; the longer run's plain average is kept beside it. At batch 1 both tools run the first
``--images-batch1`` images (10: 50 would take snntoolbox ~3 min per run), at batch 50 all 50 test images.
Accuracy: pixel accuracy (void ignored) of the class map at the last tick (cumulative spike counts) of
the longer run at the largest batch, for both and for the Keras ANN, and per-pixel agreement with the ANN.

The machine may be shared: the load average is recorded before, per run and after; compare the two
tools within one file, not absolute times across files::

    python benchmarks/bench_snntoolbox.py      # ~4 min with the peer venv in place (~2 min more to make it)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
RESULTS = HERE / "results"
VENV = HERE / ".venvs" / "snntoolbox"
PEER = HERE / "peers" / "snntoolbox_peer.py"
#: What the peer's venv gets: snntoolbox 0.6.0 (2021) requires only "tensorflow"; 2.12.1 is ours (the same
#: convolution kernels on both sides) and still has ``tensorflow.python.keras.utils.conv_utils``, which INI imports.
PEER_PACKAGES = ["snntoolbox==0.6.0", "tensorflow==2.12.1", "numpy==1.23.5"]

HEIGHT, WIDTH, CLASSES, OUT_STRIDE = 48, 64, 11, 4
#: The ReLU convolutions, in order: (filters, kernel, stride), 'same' padding.
CONVS = ((8, 3, 1), (16, 2, 2), (40, 2, 2))
#: What the net claims: ReLU units (48·64·8 + 24·32·16 + 12·16·40); tests/test_bench_snntoolbox.py checks it.
RELU_UNITS = 44_544
PERCENTILE, N_CALIBRATION, SEED = 99.9, 32, 0
VOID = 11


# ------------------------------------------------------------------------------------------------ the net
def build_model(seed: int = SEED):
    """The Keras 2 segmentation CNN (untrained): ReLU convolutions, then a linear 1×1 classifier per pixel."""
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    tf.keras.utils.set_random_seed(seed)
    layers = tf.keras.layers
    inp = layers.Input((HEIGHT, WIDTH, 3), name="image")
    x = inp
    for i, (filters, k, s) in enumerate(CONVS):
        x = layers.Conv2D(filters, k, strides=s, padding="same", activation="relu", name=f"conv{i + 1}")(x)
    out = layers.Conv2D(CLASSES, 1, name="classifier")(x)
    return tf.keras.Model(inp, out, name="seg45k")


def relu_units(model) -> int:
    """Output units of the layers with a ReLU activation (the neurons a rate conversion makes of them)."""
    return sum(int(np.prod(layer.output_shape[1:])) for layer in model.layers
               if getattr(getattr(layer, "activation", None), "__name__", "") == "relu")


def layer_table(model) -> list[dict]:
    return [{"layer": layer.name, "type": type(layer).__name__, "output": list(layer.output.shape[1:]),
             **({"kernel": list(layer.kernel_size), "strides": list(layer.strides), "padding": layer.padding,
                 "activation": layer.activation.__name__} if hasattr(layer, "kernel_size") else {}),
             "parameters": int(layer.count_params())} for layer in model.layers]


def block_labels(labels: np.ndarray, block: int = OUT_STRIDE) -> np.ndarray:
    """Labels at the output resolution: each block's most frequent class, void where it has no labelled pixel."""
    n, h, w = labels.shape
    cells = labels.reshape(n, h // block, block, w // block, block).transpose(0, 1, 3, 2, 4)
    counts = (cells.reshape(n, h // block, w // block, block * block, 1) == np.arange(CLASSES)).sum(3)
    out = counts.argmax(-1).astype(np.uint8)
    out[counts.sum(-1) == 0] = VOID
    return out


def pixel_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    valid = labels != VOID
    return round(float((pred == labels)[valid].mean()), 4)


# ------------------------------------------------------------------------------------------- prepare
def prepare(work: Path, train_images: int, epochs: int) -> dict:
    """Data, training and the files both tools read (model.h5; snntoolbox's x_norm/x_test/y_test npz)."""
    from itnet_neuro.data.synthetic import load_split
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    x_train, y_train = load_split("train", n=train_images, height=HEIGHT, width=WIDTH, seed=SEED)
    x_norm, _ = load_split("val", n=N_CALIBRATION, height=HEIGHT, width=WIDTH, seed=SEED)
    x_test, y_test = load_split("test", n=50, height=HEIGHT, width=WIDTH, seed=SEED)
    model = build_model()
    onehot = np.eye(VOID + 1, dtype=np.float32)[block_labels(y_train)][..., :CLASSES]  # void: all zero, no loss
    model.compile(tf.keras.optimizers.Adam(3e-3), tf.keras.losses.CategoricalCrossentropy(from_logits=True))
    start = time.perf_counter()
    model.fit(x_train, onehot, batch_size=16, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    labels = block_labels(y_test)
    model.save(work / "model.h5")
    np.savez(work / "x_norm.npz", x_norm)
    np.savez(work / "x_test.npz", x_test)
    flat = np.eye(VOID + 1, dtype=np.float32)[labels][..., :CLASSES].reshape(len(labels), -1)
    np.savez(work / "y_test.npz", flat)  # snntoolbox reads it; the timed steps do not use it
    np.save(work / "labels.npy", labels)
    info = {"train_images": train_images, "epochs": epochs, "train_seconds": round(seconds, 1), "seed": SEED,
            "convs": [list(c) for c in CONVS]}
    (work / "prepare.json").write_text(json.dumps(info))
    return info


def ensure_prepared(work: Path, train_images: int, epochs: int) -> dict:
    """The prepared work folder, made by this script with ``--prepare`` under ``nice`` (training is no timing)."""
    done = work / "prepare.json"
    if done.exists():
        info = json.loads(done.read_text())
        if (info["train_images"], info["epochs"], info["seed"], info.get("convs")) == (
                train_images, epochs, SEED, [list(c) for c in CONVS]):
            return info
    print(f"training the net ({train_images} images, {epochs} epochs, niced) in {work} …", flush=True)
    cmd = ["nice", "-n", "15", sys.executable, __file__, "--prepare", "--work", str(work),
           "--train-images", str(train_images), "--epochs", str(epochs)]
    if subprocess.run(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}).returncode != 0:
        raise SystemExit(f"{work}: preparing the net failed (output above)")
    return json.loads(done.read_text())


# ------------------------------------------------------------------------------------------------ ours
def convert(work: Path):
    from itnet_neuro.convert import convert_model

    x_norm = np.load(work / "x_norm.npz")["arr_0"]
    return convert_model(work / "model.h5", calibration=x_norm, n_calibration=N_CALIBRATION, percentile=PERCENTILE,
                         per_channel=False, v_init=0.0).network


def _simulate(net, x: np.ndarray, ticks: int, batch: int):
    from itnet_neuro.sim.core import simulate

    w0, c0 = time.perf_counter(), time.process_time()
    res = simulate(net, x, ticks, backend="fast", batch_size=batch, grid=np.array([ticks]), show_progress=False)
    return time.perf_counter() - w0, time.process_time() - c0, res


def ours(net, x: np.ndarray, plan: list[dict], ticks: list[int], repeats: int) -> tuple[list[dict], dict]:
    """Timed runs of ``fast`` (warm) per batch size and run length; the class maps of every longest run."""
    from itnet_neuro.sim.metrics import decode

    runs, maps, unrolled = [], {}, net.unroll()
    for row in plan:
        b, xs = row["batch"], x[:row["images"]]
        _simulate(net, xs[:b], 8, b)  # warm-up: kernels built, TensorFlow's first calls traced
        for t in ticks:
            for rep in range(repeats):
                wall, cpu, res = _simulate(net, xs, t, b)
                runs.append({"tool": "ours", "batch": b, "images": len(xs), "ticks": t, "repeat": rep,
                             "wall_seconds": wall, "cpu_seconds": cpu, "load_average": list(os.getloadavg()),
                             "simulator": res.info})
                print(f"ours fast      batch {b}, {len(xs)} images, {t} ticks: {wall:.1f} s "
                      f"({wall / len(xs) / t * 1e3:.2f} ms per image-tick)", flush=True)
            logits = decode(res, unrolled, unrolled.readouts[0], -1, decoder="cumulative")
            maps[f"b{b}_t{t}"] = logits.argmax(1)
    return runs, maps


# ---------------------------------------------------------------------------------------------- theirs
def theirs(python: Path, work: Path, plan: list[dict], ticks: list[int], repeats: int) -> tuple[dict, dict]:
    """snntoolbox_peer.py in the peer venv: its JSON (runs, neurons, synapses) and its class maps."""
    spec = {"percentile": PERCENTILE, "images": max(r["images"] for r in plan), "ticks": ticks,
            "repeats": repeats, "batches": plan}
    (work / "spec.json").write_text(json.dumps(spec))
    with open(work / "peer.log", "w") as log:  # INI prints every tick's accuracy: kept out of the way
        proc = subprocess.run([str(python), str(PEER), str(work), str(work / "spec.json")], stdout=log,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        tail = "".join((work / "peer.log").read_text().splitlines(keepends=True)[-5:])
        raise SystemExit(f"{tail}{PEER.name} failed (exit {proc.returncode}): its error is above")
    doc = json.loads((work / "peer.json").read_text())
    for run in doc["runs"]:
        run["tool"] = "snntoolbox"
    counts = np.load(work / "counts.npz")
    return doc, {k: counts[k].argmax(-1) for k in counts.files}


def peer_versions(python: Path) -> dict:
    out = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    return dict(line.split("==", 1) for line in out.split() if "==" in line)


# --------------------------------------------------------------------------------------------- summary
def per_image_tick(runs: list[dict], tool: str, batch: int, ticks: list[int]) -> dict:
    """Milliseconds per image-tick: from the difference of the run lengths (best of the repeats each), and the
    longest run's plain average; wall and CPU."""
    best = {t: min((r for r in runs if r["tool"] == tool and r["batch"] == batch and r["ticks"] == t
                    and not r.get("network_step_only")), key=lambda r: r["wall_seconds"]) for t in ticks}
    short, long = best[min(ticks)], best[max(ticks)]
    n, dt = long["images"], max(ticks) - min(ticks)
    return {"images": n, "wall_ms_difference": round((long["wall_seconds"] - short["wall_seconds"]) / n / dt * 1e3, 3),
            "cpu_ms_difference": round((long["cpu_seconds"] - short["cpu_seconds"]) / n / dt * 1e3, 3),
            "wall_ms_longest_run": round(long["wall_seconds"] / n / max(ticks) * 1e3, 3)}


def summarize(doc: dict, plan: list[dict], ticks: list[int]) -> None:
    runs = doc["runs"]
    doc["ms_per_image_tick"] = {}
    for row in plan:
        b = row["batch"]
        mine, peer = per_image_tick(runs, "ours", b, ticks), per_image_tick(runs, "snntoolbox", b, ticks)
        step = min((r for r in runs if r["tool"] == "snntoolbox" and r["batch"] == b and r.get("network_step_only")),
                   key=lambda r: r["wall_seconds"])
        peer["network_step_only_wall_ms"] = round(step["wall_seconds"] / b / step["ticks"] * 1e3, 3)
        doc["ms_per_image_tick"][str(b)] = {
            "ours": mine, "snntoolbox": peer,
            "snntoolbox_over_ours": round(peer["wall_ms_difference"] / mine["wall_ms_difference"], 2),
            "snntoolbox_over_ours_longest_run": round(peer["wall_ms_longest_run"] / mine["wall_ms_longest_run"], 2),
            "snntoolbox_over_ours_cpu": round(peer["cpu_ms_difference"] / mine["cpu_ms_difference"], 2)}
        print(f"batch {b:2d}: ours {mine['wall_ms_difference']:.2f} ms, snntoolbox {peer['wall_ms_difference']:.2f} ms "
              f"per image-tick → snntoolbox/ours {doc['ms_per_image_tick'][str(b)]['snntoolbox_over_ours']}×",
              flush=True)


def score(maps_ours: dict, maps_theirs: dict, ann: np.ndarray, labels: np.ndarray, key: str) -> dict:
    """Pixel accuracy at the last tick of run ``key`` for both tools and the ANN, and agreement with the ANN."""
    a, b = maps_ours[key], maps_theirs[key]
    n = len(a)
    return {"run": key, "images": n, "ann": pixel_accuracy(ann[:n], labels[:n]),
            "ours": pixel_accuracy(a, labels[:n]), "snntoolbox": pixel_accuracy(b, labels[:n]),
            "ours_agrees_with_ann": round(float((a == ann[:n]).mean()), 4),
            "snntoolbox_agrees_with_ann": round(float((b == ann[:n]).mean()), 4),
            "ours_agrees_with_snntoolbox": round(float((a == b).mean()), 4)}


# ------------------------------------------------------------------------------------------------ main
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--venv", default=str(VENV), help="snntoolbox's venv (made when missing)")
    p.add_argument("--work", default=None, help="folder for the model and data (default: a temporary one; "
                                                "a given folder is kept and its trained model reused)")
    p.add_argument("--ticks", default="100,200", help="the two run lengths (their difference gives the cost)")
    p.add_argument("--images-batch1", type=int, default=10, help="images at batch 1 (at batch 50: 50)")
    p.add_argument("--repeats", type=int, default=2, help="runs per cell; the fastest counts")
    p.add_argument("--train-images", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)  # the niced training child
    p.add_argument("-o", "--output", default=str(RESULTS / "peer_snntoolbox.json"))
    args = p.parse_args(argv)
    ticks = sorted({int(t) for t in args.ticks.split(",") if t.strip().isdigit() and int(t) > 0})
    if len(ticks) != 2:
        p.error(f"--ticks {args.ticks!r}: give two different positive run lengths, e.g. 100,200")
    if not 1 <= args.images_batch1 <= 50 or args.repeats < 1:
        p.error("--images-batch1 must be 1..50 (there are 50 test images) and --repeats at least 1")
    return args


def run(args, work: Path, command: str) -> dict:
    from benchmarks.common import ensure_peer_venv, header

    doc = header(command)
    python = ensure_peer_venv(Path(args.venv), PEER_PACKAGES, "snntoolbox", probe="import snntoolbox, tensorflow")
    training = ensure_prepared(work, args.train_images, args.epochs)
    ticks, n1 = sorted(int(t) for t in args.ticks.split(",")), args.images_batch1
    plan = [{"batch": 1, "images": n1}, {"batch": 50, "images": 50}]
    net = convert(work)
    x = np.load(work / "x_test.npz")["arr_0"]
    runs, maps = ours(net, np.ascontiguousarray(x.transpose(0, 3, 1, 2)), plan, ticks, args.repeats)
    peer, peer_maps = theirs(python, work, plan, ticks, args.repeats)
    model = build_model()
    model.load_weights(work / "model.h5")
    ann = model.predict(x, verbose=0).argmax(-1)
    last = f"t{ticks[-1]}"
    doc.update({
        "network": network_doc(model, net, peer), "training": training,
        "data": "synthetic street scenes (itnet_neuro.data.synthetic), seed 0: train split for training, 32 val "
                "images for normalization, 50 test images simulated",
        "conditions": _conditions(), "peer": {"packages": PEER_PACKAGES, "versions": peer_versions(python),
                                              "patches": "none (snntoolbox code unmodified, nothing monkeypatched)"},
        "plan": {"ticks": ticks, "batches": plan, "repeats": args.repeats, "images_at_batch1": None if n1 == 50 else (
            f"batch 1 runs the first {n1} of the 50 images for both tools: all 50 would take snntoolbox "
            f"{50 / n1:.0f} times as long (it runs one image at a time)")},
        "runs": runs + peer["runs"],
        "accuracy": score(maps, peer_maps, ann, np.load(work / "labels.npy"), f"b50_{last}"),
        "batch1_matches_batch50": {tool: bool((m[f"b1_{last}"] == m[f"b50_{last}"][:n1]).all())
                                   for tool, m in (("ours", maps), ("snntoolbox", peer_maps))}})
    summarize(doc, plan, ticks)
    return doc


def network_doc(model, net, peer: dict) -> dict:
    """The net's layers and each side's neuron and synapse counts as it built the net."""
    return {"input": [HEIGHT, WIDTH, 3], "output": [HEIGHT // OUT_STRIDE, WIDTH // OUT_STRIDE, CLASSES],
            "layers": layer_table(model), "keras_relu_units": relu_units(model),
            "neurons": {"ours": net.n_neurons, "snntoolbox": peer["neurons"]},
            "synapses": {"ours": net.n_synapses, "snntoolbox": peer["synapses"]},
            "snntoolbox_parsed_layers": peer["parsed_layers"],
            "counting": "neurons: ours the IF neurons of the ReLU layers (the classifier is a readout), snntoolbox "
                        "every spiking layer, the classifier's 12·16·11 output neurons included. Synapses: ours "
                        "leave out taps into the zero padding and the classifier (a readout); snntoolbox counts "
                        "every kernel tap (neurons × fan-out, the input's included) and the classifier's "
                        "12·16·40·11"}


def _conditions() -> str:
    return ("same Keras weights and normalization on both sides (one scale per layer, 99.9th percentile of positive "
            "activations on the same 32 images; initial membrane 0; reset by subtraction; threshold 1; the image as a "
            "constant input current). Ours: convert_model(per_channel=False, percentile=99.9, v_init=0), simulate("
            "backend='fast', batch_size=B, kernels auto), one tick of delay per connection. snntoolbox: INI "
            "temporal_mean_rate, normalize=True, dt=1, spikes pass through every layer within a tick. Both warm, "
            "wall clock, the simulation only (ours: simulate(); snntoolbox: SNN.simulate per batch; conversion, "
            "parsing, normalization, building and the warm-up excluded). snntoolbox's network_step_only: the SNN "
            "Keras model's predict_on_batch called once per tick on one batch, without INI's per-tick bookkeeping")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.prepare:
        print(json.dumps(prepare(Path(args.work), args.train_images, args.epochs)))
        return 0
    from benchmarks.common import finish

    command = "python benchmarks/bench_snntoolbox.py" + "".join(f" {a}" for a in (argv if argv is not None
                                                                                   else sys.argv[1:]))
    if args.work:
        Path(args.work).mkdir(parents=True, exist_ok=True)
        doc = run(args, Path(args.work), command)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-snntoolbox-") as tmp:
            doc = run(args, Path(tmp), command)
    finish(doc, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
