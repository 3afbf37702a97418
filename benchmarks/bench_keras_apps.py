"""Common Keras vision models (``tf.keras.applications``, ``weights=None``, small inputs): which convert,
verify and allocate.

Each model is built untrained (no download) at a small input size, saved as ``.h5`` and converted
through the file path users take (checked with h5py first), with 8 random images in [0, 1] as
calibration; verified layer by layer against Keras (rate level) and, spiking, by the argmax agreement
of the readout after 128 ticks on 4 images; then allocated on Loihi, SpiNNaker 2 and TrueNorth. A model
that is refused keeps the one-line reason. Writes ``benchmarks/results/keras_apps.json``.

    python benchmarks/bench_keras_apps.py [MODEL ...]
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: model name → (constructor keyword arguments, input size H = W); the smallest sizes Keras accepts.
MODELS = {
    "MobileNet": ({"alpha": 0.25}, 32), "MobileNetV2": ({"alpha": 0.35}, 32),
    "MobileNetV3Small": ({"include_preprocessing": False}, 32), "ResNet50": ({}, 32), "ResNet50V2": ({}, 32),
    "DenseNet121": ({}, 32), "VGG16": ({}, 32), "InceptionV3": ({}, 75), "Xception": ({}, 71),
    "EfficientNetB0": ({}, 32), "NASNetMobile": ({}, 32),
}
CHIPS = ("loihi", "spinnaker2", "truenorth")


def one(name: str, tmp: Path) -> dict:
    import tensorflow as tf

    from itnet_neuro.convert import convert_model
    from itnet_neuro.errors import ItnetNeuroError
    from mapping import plan

    kwargs, size = MODELS[name]
    tf.keras.utils.set_random_seed(0)
    model = getattr(tf.keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10, **kwargs)
    path = tmp / f"{name}.h5"
    model.save(path, save_format="h5")
    rec = {"model": name, "input": [size, size, 3], "parameters": int(model.count_params())}
    t0 = time.perf_counter()
    cal = np.random.default_rng(0).uniform(0, 1, (8, size, size, 3)).astype(np.float32)
    try:
        res = convert_model(path, calibration=cal)
    except ItnetNeuroError as exc:
        rec.update(converts=False, reason=str(exc)[:400], seconds=round(time.perf_counter() - t0, 1))
        return rec
    net = res.network
    rep = res.verify(cal[:4], spiking_ticks=128)
    rec.update(converts=True, neurons=net.n_neurons, synapses=net.n_synapses, populations=len(net.populations),
               verify_passed=bool(rep.passed), worst_layer_rel_error=round(rep.worst.rel_error, 4),
               readout_rel_error=round(rep.readouts[0]["rel_error"], 4),
               spiking_argmax_agreement_128_ticks=rep.spiking[128][net.readouts[0].name])
    rec["allocation"] = {}
    for chip in CHIPS:
        a = plan(net, chip)
        rec["allocation"][chip] = {"feasible": a.feasible, "schedule": a.schedule, "cores": a.cores_used,
                                   "first_violation": str(a.violations[0])[:160] if a.violations else None}
    rec["seconds"] = round(time.perf_counter() - t0, 1)
    return rec


def main(argv=None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(MODELS)
    out = ROOT / "benchmarks" / "results" / "keras_apps.json"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows.append(one(name, Path(tmp)))
            print(json.dumps(rows[-1])[:300], flush=True)
    from itnet_neuro.utils import write_json

    import tensorflow as tf

    write_json(out, {"command": "python benchmarks/bench_keras_apps.py " + " ".join(names if argv else []),
                     "machine": f"{platform.machine()}, python {platform.python_version()}, tensorflow {tf.__version__}",
                     "calibration": "8 random images in [0, 1]; weights=None (untrained)", "models": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
