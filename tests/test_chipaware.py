"""Chip-aware training (issue 13): group plans against the allocator's fan-in, the STE weight grids,
a tiny `train --chip` run that allocates without fan-in splitting, the trained-for warning."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_models.spec import list_chips, load_chip
from itnet_neuro.errors import ConfigError
from itnet_neuro.model import ItNetConfig, get_preset
from itnet_neuro.model.chipaware import (chip_config, chip_mismatch_warning, chip_preset, conv_sites, fanin_limit,
                                         plan_groups, plannable_width)

TINY = get_preset("tiny")


@pytest.fixture(scope="module")
def tf():
    from itnet_neuro.utils import import_tf

    return import_tf()


@settings(max_examples=40, deadline=None)
@given(chip=st.sampled_from(list_chips()), width=st.integers(4, 40), scales=st.integers(1, 4))
def test_planned_groups_are_valid_keras_groups_within_the_limit(chip, width, scales):
    """Every planned group count divides both channel counts (Keras' rule) and keeps each concatenated
    source in whole groups; a plan is refused only when no group count fits."""
    cfg = TINY.replace(width=width, scales=scales)
    sites = {s.name: s for s in conv_sites(cfg)}
    limit = fanin_limit(chip)
    rows = 2 if load_chip(chip).weights.sign == "two-rows" else 1
    try:
        plan = plan_groups(cfg, chip)
    except ConfigError as exc:
        assert limit is not None and "no group count" in str(exc)
        return
    for name, s in sites.items():
        g = plan.get(name, 1)
        assert s.in_channels % g == 0 and s.out_channels % g == 0
        if limit is not None:
            # brute force over the channels of every group, independent of ConvSite.fanin
            size = s.in_channels // g
            per = np.concatenate([np.full(c, m) for c, m in s.parts])
            worst = max(per[k * size:(k + 1) * size].sum() for k in range(g)) if not s.depthwise else per.max()
            assert (s.kernel ** 2 * worst + s.extra) * rows <= limit, (name, g)


def test_truenorth_small_groups_only_the_mixing_convolutions():
    cfg = chip_preset("truenorth-small")
    assert cfg.chip == "truenorth" and cfg.ticks == 256 and cfg.activation == "clip_floor_shift"
    assert cfg.width == 18  # 16 has no group count that keeps three 16-channel sources in whole groups
    assert dict(cfg.conv_groups) == {f"it_mix_s{l}_conv1": 6 for l in (1, 2, 3)}
    assert chip_preset("loihi-small").conv_groups is None  # 4096 axons: nothing to group


def test_unplannable_width_names_the_layer_and_a_width_that_fits():
    with pytest.raises(ConfigError, match=r"it_mix_s1_conv1: .*width=9 fits"):
        chip_config(TINY, "truenorth")
    assert plannable_width(TINY, "truenorth") == 9


def test_config_records_chip_ticks_and_groups_round_trip():
    cfg = chip_config(TINY.replace(width=12), "truenorth", ticks=128)
    back = ItNetConfig.from_json(cfg.to_json())
    assert back == cfg and back.ticks == 128 and back.levels == 128 and back.groups_of("it_mix_s2_conv1") == 3
    assert "chip" not in TINY.to_dict()  # float models' JSON is unchanged
    with pytest.raises(ConfigError, match="conv_groups"):
        TINY.replace(conv_groups={"it_mix_s1_conv1": 0})


def test_mismatch_warning_names_both_chips():
    cfg = chip_config(TINY.replace(width=12), "truenorth")
    assert chip_mismatch_warning(cfg, "truenorth") is None
    assert chip_mismatch_warning(TINY, "loihi") is None
    w = chip_mismatch_warning(cfg.to_dict(), "loihi")
    assert w.startswith("warning:") and "truenorth" in w and "loihi" in w and "\n" not in w


def test_ternary_by_input_lies_on_truenorths_grid(tf):
    from itnet_neuro.model.chiplayers import ternary_by_input

    rng = np.random.default_rng(0)
    for groups in (1, 3):
        w = tf.Variable(rng.normal(size=(3, 3, 4, 6)).astype(np.float32))
        with tf.GradientTape() as tape:
            q = ternary_by_input(w, groups)
            loss = tf.reduce_sum(q * tf.constant(rng.normal(size=q.shape).astype(np.float32)))
        q = q.numpy()
        for o in range(6):
            vals = np.unique(q[..., o])  # {0, α⁺_o, −α⁻_o}
            pos, neg = vals[vals > 0], vals[vals < 0]
            assert len(pos) <= 1 and len(neg) <= 1
        for c in range(4):  # one sign per real input channel: its weights to every output of its group
            for g in range(groups):
                cols = q[:, :, c, g * (6 // groups):(g + 1) * (6 // groups)]
                assert not (np.any(cols > 0) and np.any(cols < 0))
        grad = tape.gradient(loss, w).numpy()
        assert np.all(np.isfinite(grad)) and np.count_nonzero(grad) == grad.size  # straight through


@pytest.mark.parametrize("chip", ["loihi", "brainscales2", "spinnaker2"])
def test_uniform_grid_is_the_chips_integer_range(tf, chip):
    from itnet_neuro.model.chiplayers import quantizer_for

    m = load_chip(chip).weights.max_int_for(mixed_sign=True)
    w = np.random.default_rng(1).normal(size=(3, 3, 5, 7)).astype(np.float32)
    q = quantizer_for(chip, depthwise=False)(tf.constant(w)).numpy()
    step = np.abs(w).max() / m
    k = q / step
    assert np.allclose(k, np.round(k), atol=1e-3) and np.abs(k).max() <= m + 1e-3
    assert np.abs(q - w).max() <= step / 2 + 1e-6


def test_ternary_depthwise_has_one_magnitude_per_channel(tf):
    from itnet_neuro.model.chiplayers import ternary

    q = ternary(tf.constant(np.random.default_rng(2).normal(size=(3, 3, 8, 1)).astype(np.float32))).numpy()
    for c in range(8):
        mags = np.unique(np.abs(q[:, :, c, 0]))
        assert len(mags[mags > 0]) == 1


@pytest.mark.slow
def test_tiny_train_chip_allocates_without_splitting_and_warns_elsewhere(tmp_path, capsys):
    """`train --chip truenorth` on the tiny preset; the allocator (the reference for fan-in) places it
    with --no-split; convert and allocate on another chip warn."""
    from itnet_neuro.cli import main

    out = tmp_path / "tn.h5"
    rc = main(["train", "--preset", "tiny", "--chip", "truenorth", "--ticks", "64", "--set", "width=12",
               "--set", "iterations=2", "--data", "synthetic", "--epochs", "1", "--n-train", "8", "--n-val", "4",
               "--batch-size", "4", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "training for truenorth at 64 ticks" in capsys.readouterr().out
    from itnet_neuro.model.io import read_config

    cfg = read_config(out)
    assert (cfg.chip, cfg.ticks, cfg.levels) == ("truenorth", 64, 64)
    snn = tmp_path / "tn.snn.h5"
    assert main(["convert", str(out), "-o", str(snn), "--n-calibration", "4", "--chip", "loihi"]) == 0
    cap = capsys.readouterr()
    assert "trained for truenorth at 64 ticks" in cap.out and "warning:" in cap.err and "loihi" in cap.err
    assert main(["allocate", str(snn), "--chip", "truenorth", "--no-split", "-o", str(tmp_path / "a.json"),
                 "--plot", "none"]) == 0
    assert "warning:" not in capsys.readouterr().err
    main(["allocate", str(snn), "--chip", "loihi", "--no-split", "-o", str(tmp_path / "b.json"), "--plot", "none"])
    assert "warning: this model was trained for truenorth" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("chip", [c for c in list_chips() if fanin_limit(c) is not None])
def test_planned_model_has_no_fanin_violation_in_the_allocator(tf, tmp_path, chip):
    """The allocator measures every neuron's axons on the converted network (signed pairs, two-row
    inputs): a model built from the plan has no neuron beyond one core (untrained weights)."""
    from itnet_neuro.convert import convert_model
    from itnet_neuro.model.build import build_itnet
    from mapping.allocate import plan

    width = plannable_width(TINY, chip)
    if width is None:
        pytest.skip(f"no width from 8 to 16 plans for {chip}")
    cfg = chip_config(TINY.replace(width=width, iterations=2), chip)
    model = build_itnet(cfg, chip_layers=False)
    net = convert_model(model, itnet_config=cfg, n_calibration=2).network
    alloc = plan(net, chip, "unrolled", split=False)
    fanin = [v for v in alloc.violations if "fan-in" in str(v)]
    assert not fanin, fanin


def test_grouped_conv_over_a_concatenation_converts_and_verifies(tf):
    """Sources inside one group (a slice of its kernel), a source filling one group, a signed pair over two
    groups (an IR conv2d with groups = 2): the converted network agrees with Keras layer by layer; a
    source straddling groups is refused by name."""
    from itnet_neuro.convert import convert_model
    from itnet_neuro.errors import UnsupportedLayerError

    kl = tf.keras.layers
    tf.keras.utils.set_random_seed(3)
    x = kl.Input((10, 12, 3))
    a = kl.Conv2D(2, 3, padding="same", activation="relu")(x)
    b = kl.Conv2D(2, 3, padding="same", activation="relu")(x)
    c = kl.Add()([kl.Conv2D(4, 3, padding="same")(x), kl.Conv2D(4, 1)(x)])  # signed: a population pair
    h = kl.Conv2D(6, 3, padding="same", groups=2, activation="relu", name="mixed")(kl.Concatenate()([a, b, c]))
    h2 = kl.Conv2D(4, 3, padding="same", groups=2, activation="relu", name="paired")(c)
    model = tf.keras.Model(x, kl.Conv2D(3, 1)(kl.Concatenate()([h, h2])))
    images = np.random.default_rng(0).uniform(0, 1, (8, 10, 12, 3)).astype(np.float32)
    res = convert_model(model, calibration=images)
    rep = res.verify()
    assert rep.passed, rep.table()
    conns = res.network.connections
    assert {(cn.groups, cn.post_offset) for cn in conns if cn.post == "mixed"} == {(1, 0), (1, 3)}
    assert {cn.groups for cn in conns if cn.post == "paired"} == {2}
    bad = kl.Conv2D(4, 1, groups=2, name="straddle")(kl.Concatenate()([kl.Conv2D(3, 1, activation="relu")(x),
                                                                       kl.Conv2D(1, 1, activation="relu")(x)]))
    with pytest.raises(UnsupportedLayerError, match="straddle.*whole groups"):
        convert_model(tf.keras.Model(x, bad), calibration=images)
