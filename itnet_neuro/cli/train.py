"""`itnet-neuro train`: train an ItNet (Keras) with the paper's multi-output loss and save model.h5."""

from __future__ import annotations

from itnet_neuro.errors import ConfigError

HELP = "train an ItNet (Keras) with the paper's multi-output loss and save model.h5"
DESCRIPTION = """Train an ItNet (Keras) with the paper's joint multi-output loss and save model.h5.

The network comes from a preset (--preset, see `itnet-neuro footprint --list`) or a JSON config
(--config FILE or inline JSON), optionally changed with --set KEY=VALUE. Loss Σ ā_n c_n over the
loss outputs (void pixels ignored), Adam 1e-3 ×0.1 at 70 % and 85 % of the epochs, random flips and
crops. Every epoch logs the validation mIoU of every output, writes a checkpoint (MODEL.ckpt/) and
the current model; running the same command again resumes after the last finished epoch.

examples:
  itnet-neuro train --preset tiny --data synthetic --epochs 2 -o tiny.h5
  itnet-neuro train --preset small --set activation=clip_floor_shift --epochs 30 -o small_cfs.h5
  itnet-neuro train --config my.json --data camvid:/data/CamVid --crop 352x480 -o camvid.h5
  itnet-neuro train --preset truenorth-small --epochs 30 -o tn.h5        # = --preset small --chip truenorth
  itnet-neuro train --preset tiny --chip truenorth --ticks 128 -o tiny_tn.h5

--chip NAME trains for one chip (its TOML gives every rule): convolutions grouped so that every
neuron's fan-in fits one core (signed pairs and two-row inputs counted), the chip's weight grid in
the forward pass with a straight-through estimator, clip-floor-shift activations at the tick budget.
The model file records the chip and ticks; convert and allocate warn when it is used elsewhere.
Presets per chip family: truenorth-small, loihi-small, spinnaker2-small.
"""


def add_arguments(parser) -> None:
    from itnet_neuro.cli import args

    src = parser.add_mutually_exclusive_group()
    src.add_argument("--preset", default=None, help="a named config (default: small)")
    src.add_argument("--config", default=None, help="ItNet config: a JSON file or inline JSON")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config field (JSON value), e.g. --set width=24 --set shared=false")
    parser.add_argument("--data", default="synthetic", type=args.dataset,
                        help="synthetic | camvid:DIR | cityscapes:DIR | npz:FILE (x: N×H×W×C, y: N×H×W class maps)")
    parser.add_argument("--epochs", type=args.positive_int, default=10)
    parser.add_argument("--batch-size", type=args.positive_int, default=8)
    parser.add_argument("--lr", type=args.positive_float, default=1e-3, help="initial learning rate (paper: 1e-3)")
    parser.add_argument("--crop", default=None, metavar="HxW", help="random training crops, e.g. 352x480")
    parser.add_argument("--no-augment", action="store_true",
                        help="no random flips; crops (if any) are central")
    parser.add_argument("--n-train", type=args.positive_int, default=None,
                        help="number of training images (default: all)")
    parser.add_argument("--n-val", type=args.positive_int, default=None,
                        help="number of validation images (default: all)")
    parser.add_argument("--seed", type=args.nonnegative_int, default=0, help="data and augmentation seed")
    parser.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument("-o", "--output", default="model.h5", help="model file to write (default model.h5)")
    parser.add_argument("--chip", default=None,
                        help="train for this chip (name or .toml): grouped convolutions within its fan-in, its weight "
                             "grid in the forward pass, clip-floor-shift activations at --ticks (issue 13)")
    parser.add_argument("--ticks", type=args.positive_int, default=None,
                        help="with --chip: the tick budget the activations are trained for (default 256)")
    parser.add_argument("--distribute", choices=("none", "mirrored", "multiworker"), default="none",
                        help="tf.distribute strategy: mirrored (one replica per GPU; without GPUs --replicas logical "
                             "CPU devices) or multiworker (every worker runs the same command with its TF_CONFIG)")
    parser.add_argument("--replicas", type=args.positive_int, default=None,
                        help="mirrored: replicas (default: every GPU, else 2 logical CPU devices)")


def resolve_config(preset: str | None, config: str | None, sets: list[str]):
    """The ItNetConfig from --preset / --config and --set overrides."""
    import json
    from pathlib import Path

    from itnet_neuro.model.config import ItNetConfig
    from itnet_neuro.model.presets import get_preset

    if config is not None:
        path = Path(config)
        text = path.read_text() if not config.lstrip().startswith("{") and path.is_file() else config
        if not text.lstrip().startswith("{"):
            raise ConfigError(f"--config {config!r}: neither a JSON file nor inline JSON")
        cfg = ItNetConfig.from_json(text)
    else:
        from itnet_neuro.model.chipaware import CHIP_PRESETS, chip_preset

        cfg = chip_preset(preset) if preset else None
        try:
            cfg = cfg if cfg is not None else get_preset(preset or "small")
        except ConfigError as exc:
            raise ConfigError(f"{exc}, " + ", ".join(f"{c}-small" for c in CHIP_PRESETS)) from None
    changes = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: use KEY=VALUE, e.g. --set width=24")
        try:
            changes[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            changes[key.strip()] = value  # a bare string such as clip_floor_shift
    if changes:
        d = cfg.to_dict()
        d.update(changes)
        cfg = ItNetConfig.from_dict(d)
    return cfg


def run(args) -> int:
    from itnet_neuro.model.distribute import make_strategy, worker_output
    from itnet_neuro.train import TrainOptions, load_data, train_itnet

    strategy = make_strategy(args.distribute, args.replicas)  # first: splitting the CPU must precede TF's start
    cfg = resolve_config(args.preset, args.config, args.set)
    if args.ticks is not None and args.chip is None and cfg.chip is None:
        raise ConfigError("--ticks: only with --chip (the tick budget a chip-trained model is trained for)")
    if args.chip is not None or cfg.chip is not None:
        from itnet_neuro.model.chipaware import chip_config

        cfg = chip_config(cfg, args.chip or cfg.chip, args.ticks or cfg.ticks)
        print(f"training for {cfg.chip} at {cfg.ticks} ticks: groups {dict(cfg.conv_groups or ()) or 'none'}, "
              f"clip-floor-shift at {cfg.levels} levels")
    crop = None
    if args.crop:
        try:
            crop = tuple(int(v) for v in args.crop.lower().split("x"))
            assert len(crop) == 2
        except (ValueError, AssertionError):
            raise ConfigError(f"--crop {args.crop!r}: use HEIGHTxWIDTH, e.g. 352x480") from None
    train, val, void = load_data(args.data, cfg, n_train=args.n_train, n_val=args.n_val, seed=args.seed)
    options = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, crop=crop,
                           augment=not args.no_augment, seed=args.seed, void_label=void, resume=not args.no_resume)
    result = train_itnet(cfg, train, val, worker_output(args.output, strategy), options, data_name=args.data,
                         strategy=strategy)
    val_miou = result.val_miou_per_output
    print(f"wrote {result.output}" + (": val mIoU per output " + " ".join(f"{v:.3f}" for v in val_miou)
                                     if val_miou else ""))
    return 0
