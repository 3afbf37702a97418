"""`itnet-neuro export`: export a spiking network to NIR or a nengo Network."""

from __future__ import annotations

from pathlib import Path

HELP = "export a spiking network to NIR or a nengo Network"
DESCRIPTION = """Export a spiking network (.snn.h5 from `itnet-neuro convert`) to NIR or nengo.

--format nir writes a NIR graph (HDF5) that plain `nir.read()` loads and type-checks, for every
network, the shipped ItNet included. NIR cannot tie weights, so the shared iterative block is unrolled
and the graph metadata names the groups of nodes that share parameters (`itnet-neuro convert
MODEL.nir` folds them back); resampling becomes exact chains of Conv2d/Affine nodes (NIR has no
resampling node) that grow with the channels, not with the square of the map; depthwise convolutions
become block-diagonal Conv2d weights (nir 1.0.8 ignores `groups`); the IR's reset by subtraction is
recorded in each IF node's metadata (NIR's IF resets to v_reset). See
itnet_neuro/export/nir_export.py for every choice.

--format nengo builds a nengo Network (nengo.Convolution with groups for depthwise) and prints its
size; a nengo Network is a Python object, use itnet_neuro.export.export_nengo in Python to keep it.

examples:
  itnet-neuro export model.snn.h5 --format nir -o model.nir
  itnet-neuro export model.snn.h5 --format nengo
"""


def add_arguments(parser) -> None:
    from itnet_neuro.cli import args

    parser.add_argument("network", help="spiking network (.snn.h5)")
    parser.add_argument("--format", required=True, choices=("nir", "nengo"), help="export format")
    parser.add_argument("-o", "--output", default=None, help="output file (nir; default NETWORK with .nir)")
    parser.add_argument("--max-dense", type=args.positive_int, default=None,
                        help="nir: largest weight (elements) of one node, a safety bound (default 16M)")


def run(args) -> int:
    from itnet_neuro.errors import ValidationError
    from itnet_neuro.ir import load_network

    net = load_network(args.network)
    if args.format == "nir":
        from itnet_neuro.export.nir_export import DEFAULT_MAX_DENSE, export_nir

        out = Path(args.output) if args.output else Path(Path(args.network).name.removesuffix(".h5")
                                                          .removesuffix(".snn") + ".nir")
        export_nir(net, out, max_dense=args.max_dense or DEFAULT_MAX_DENSE)
        print(f"wrote {out} (NIR; shared block unrolled, see metadata 'shared_parameter_groups')")
        return 0
    if args.output:
        raise ValidationError("--format nengo builds an in-memory nengo.Network and writes no file; drop -o "
                              "(use itnet_neuro.export.export_nengo in Python)")
    from itnet_neuro.export import export_nengo

    model = export_nengo(net, probe=False)
    nengo = __import__("nengo")
    ens = model.all_ensembles
    print(f"nengo.Network {net.name}: {len(ens)} ensembles, {sum(e.n_neurons for e in ens):,} neurons, "
          f"{len(model.all_connections)} connections (shared block unrolled; nengo {nengo.__version__})")
    return 0
