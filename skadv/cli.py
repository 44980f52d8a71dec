"""Command line: ``skadv`` / ``python -m skadv``."""

import argparse
import sys

from . import __version__


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skadv",
        description="Adversarial attacks and defenses for scikit-learn, built on JAX.")
    parser.add_argument("--version", action="version", version=f"skadv {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
