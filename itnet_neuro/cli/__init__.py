"""The ``itnet-neuro`` command line. Thin by design (STYLE.md §9).

``main(argv) -> int`` parses arguments and calls one subcommand module; it holds no logic.
Each subcommand lives in ``itnet_neuro/cli/<name>.py`` and defines::

    HELP: str                                 # one line for ``itnet-neuro --help``
    DESCRIPTION: str                          # a paragraph for ``itnet-neuro NAME --help``
    def add_arguments(parser) -> None: ...
    def run(args) -> int: ...                 # calls the library function, returns an exit code

Exit codes: 0 success, 1 a library error printed as one clear line (traceback only with
``--debug``), 2 usage error, 3 an infeasible allocation.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from itnet_neuro import __version__
from itnet_neuro.errors import AllocationError, ItnetNeuroError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INFEASIBLE = 0, 1, 2, 3

#: Subcommands in the order ``--help`` lists them; each is a module of this package.
SUBCOMMANDS = (
    "data",
    "train",
    "footprint",
    "convert",
    "export",
    "chips",
    "allocate",
    "compare",
    "simulate",
    "explore",
    "demo",
)


def _load(name: str):
    return importlib.import_module(f"itnet_neuro.cli.{name.replace('-', '_')}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``only`` (its module alone is imported: issue 17 §2)."""
    parser = argparse.ArgumentParser(
        prog="itnet-neuro",
        description=(
            "Run a trained ItNet (iterative segmentation network) as a rate-coded spiking network on "
            "neuromorphic chip models: train → convert → allocate → simulate."
        ),
        epilog="Run `itnet-neuro COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"itnet-neuro {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS if only is None else (only,):
        module = _load(name)
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show full tracebacks on errors")
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_named_subcommand(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from itnet_neuro.utils import setup_logging

    setup_logging(args.verbose)
    debug = bool(getattr(args, "debug", False))
    previous = _terminate_like_interrupt()
    try:
        return int(args._module.run(args) or 0)
    except AllocationError as exc:
        if debug:
            raise
        print(f"itnet-neuro {args.command}: {exc}", file=sys.stderr)
        return EXIT_INFEASIBLE
    except ItnetNeuroError as exc:
        if debug:
            raise
        print(f"itnet-neuro {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        # hardware_models cannot derive from our hierarchy (it imports nothing of ours, DESIGN.md §3):
        # its SpecError is a user error too, printed as one line.
        from hardware_models.errors import SpecError as ChipSpecError

        if debug or not isinstance(exc, ChipSpecError):
            raise
        print(f"itnet-neuro {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        # every output is written to a temporary file and renamed (utils.atomic_path); unwinding to here
        # removed the temporary files, so the final names hold the previous complete output or nothing
        print(f"itnet-neuro {args.command}: interrupted", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
    finally:
        if previous is not _NOT_INSTALLED:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _named_subcommand(argv: list[str]) -> str | None:
    """The subcommand ``argv``'s first word that is not an option names, else None (then every
    subcommand's parser is built, for ``--help`` and for the usage error)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in SUBCOMMANDS else None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs (``finally`` blocks, temporary files)."""


_NOT_INSTALLED = object()


def _terminate_like_interrupt():
    """Make SIGTERM raise :class:`Terminated`; return the previous handler (``_NOT_INSTALLED`` off the
    main thread, where Python cannot set handlers)."""
    def handler(signum, frame):
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. a test runner's worker): leave SIGTERM alone
        return _NOT_INSTALLED


def entry_point() -> None:  # console-script target
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `itnet-neuro chips | head`: the reader went away; that is not an error of ours.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    _exit_without_teardown(code)
    sys.exit(code)


def _exit_without_teardown(code: int) -> None:
    """Exit at once where TensorFlow is loaded: the interpreter's teardown of its modules took 0.6 s on 2
    cores (issue 17), freeing nothing the operating system does not. The ``atexit`` handlers (logging,
    h5py, temporary-directory finalizers) run first; while another non-daemon thread runs, the normal
    exit (which waits for it) is left to the caller."""
    import threading

    if "tensorflow" not in sys.modules:
        return
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        return
    import atexit
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or the reader went away: nothing left to say
            pass
    os._exit(code)
