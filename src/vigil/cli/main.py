"""Entry point of the ``vigil`` command: parse arguments, dispatch, map errors to exit codes.

Exit codes (documented in the README): 0 ok, 1 verification failed, 2 usage or
configuration error, 3 unavailable (cannot confirm freshness, network).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vigil import __version__
from vigil.errors import ConfigError, FormatError, TransportError, VigilError

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


_FAST_COMMANDS = ("verify",)
"""Subcommands a package-manager hook runs on every refresh: parsed without
importing the others (their servers pull in Starlette, uvicorn, rich...)."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command tree (or just ``only``); each subcommand module adds its parsers."""
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Transparency for software repositories.",
    )
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show the cause chain of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if only == "verify":
        from vigil.cli import verify as verify_only

        verify_only.add_parser(sub)
        return parser
    from vigil.cli import audit, charter, demo, key, log, roles, verify, witness

    key.add_parser(sub)
    demo.add_parser(sub)
    log.add_parser(sub)
    witness.add_parser(sub)
    charter.add_parser(sub)
    roles.add_parsers(sub)
    audit.add_parser(sub)
    verify.add_parser(sub)
    return parser


def exit_code_for(exc: VigilError) -> int:
    """Map an error class to the documented exit code."""
    if isinstance(exc, ConfigError | FormatError):
        return EXIT_USAGE
    if isinstance(exc, TransportError):
        return EXIT_UNAVAILABLE
    return EXIT_REJECTED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    fast = arguments[0] if arguments and arguments[0] in _FAST_COMMANDS else None
    args = None
    if fast == "verify":
        from vigil.cli.verify import parse_fast

        args = parse_fast(arguments[1:])
    if args is None:
        parser = build_parser(only=fast)
        args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.run(args)
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        hint = exc.hint()
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        if args.verbose and exc.__cause__ is not None:
            print(f"caused by: {exc.__cause__!r}", file=sys.stderr)
        return exit_code_for(exc)
    return code


if __name__ == "__main__":
    sys.exit(main())
