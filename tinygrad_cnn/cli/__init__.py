"""The ``tinygrad-cnn`` command (also ``python -m tinygrad_cnn``), one module per subcommand.

Subcommands: train, evaluate, predict, export, summary, gradcheck, info. Errors a user can
cause (bad paths, unreadable files, invalid options) print one line on stderr and exit non-zero.
"""

from __future__ import annotations

import argparse
import os
import sys

import tinygrad_cnn as tc

from . import evaluate, export, gradcheck, info, predict, summary, train
from .common import PROG, CLIError, Parser

SUBCOMMANDS = (train, evaluate, predict, export, summary, gradcheck, info)


def build_parser() -> argparse.ArgumentParser:
    """The ``tinygrad-cnn`` parser with every subcommand; each sets ``args.func`` to run it."""
    parser = Parser(prog=PROG, description="Train, check and inspect small CNNs with "
                     "tinygrad_cnn.", formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog=f"examples:\n  {PROG} train\n  {PROG} info\n  {PROG} gradcheck "
                     f"--device gpu\n  {PROG} COMMAND --help")
    parser.add_argument("--version", action="version", version=f"%(prog)s {tc.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def _one_line(e: BaseException) -> str:
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(str(text).split()) or type(e).__name__


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep the interpreter's flush quiet
        return 0
    except Exception as e:  # one line for the user; TINYGRAD_CNN_DEBUG=1 shows the traceback
        if os.environ.get("TINYGRAD_CNN_DEBUG"):
            raise
        print(f"{PROG} {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 1
