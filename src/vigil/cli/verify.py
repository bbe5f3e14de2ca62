"""``vigil verify``: is the repository metadata in hand current, authorized, reproduced
and not warned about?

Exit codes (README): 0 verified (warnings are printed); 1 rejected; 2 usage,
configuration or malformed input; 3 freshness cannot be confirmed (stale view
under a charter that rejects stale views, offline, or no server reachable).
With ``--all`` the worst code wins (1 over 3 over 0).

It runs on every package-manager refresh, so its start is kept short
(issue 6; ``tests/unit/cli/test_verify_cold_start.py`` guards it): the client
is imported when the arguments are read, plain arguments skip building
argparse's parser (:func:`parse_fast`), and the table for people is plain
text (:func:`render_text`), not rich.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vigil.client.config import ClientConfig
    from vigil.client.run import Result

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
_SYSTEM_CONFIG = Path("/etc/vigil/config.toml")
_SYMBOLS = {"pass": "✓", "warn": "!", "stale": "?", "fail": "✗", "skip": "·"}
_COLOURS = {"pass": "green", "warn": "yellow", "stale": "yellow", "fail": "red", "skip": "dim"}
_VERDICT_COLOURS = {"verified": "bold green", "rejected": "bold red", "stale": "bold yellow",
                    "unavailable": "bold yellow"}


def add_parser(sub: Any) -> None:
    """Register ``vigil verify``."""
    parser = sub.add_parser(
        "verify", help="verify repository metadata against the log, charter and witnesses",
        description="Verify that repository metadata is current, authorized, reproduced "
        "and not warned about. Exit 0 verified, 1 rejected, 2 usage or configuration "
        "error, 3 freshness cannot be confirmed.",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--repo", help="the repository, as the charter names it")
    what.add_argument("--all", action="store_true", help="every configured repository")
    parser.add_argument("--metadata", type=Path,
                        help="the metadata file in hand (repomd.xml, Release/InRelease, .db, "
                        "OCI manifest, opam index); default: the configured one")
    parser.add_argument("--config", type=Path,
                        help="read only this configuration file (default: "
                        "/etc/vigil/config.toml, then ~/.config/vigil/config.toml)")
    parser.add_argument("--charter", type=Path, help="the trusted charter envelope")
    parser.add_argument("--state-dir", type=Path, help="default /var/lib/vigil "
                        "(~/.local/state/vigil when not root)")
    parser.add_argument("--url", action="append", default=[],
                        help="a server to ask first for bundles (repeatable)")
    parser.add_argument("--bundle", type=Path, help="verify this saved bundle")
    parser.add_argument("--offline", action="store_true",
                        help="no network: requires --bundle")
    parser.add_argument("--save-bundle", type=Path, help="also write the bundle here")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run_verify)


_VALUES = {"--repo": str, "--metadata": Path, "--config": Path, "--charter": Path,
           "--state-dir": Path, "--bundle": Path, "--save-bundle": Path}
_FLAGS = ("--all", "--offline", "--json")


def parse_fast(arguments: Sequence[str]) -> argparse.Namespace | None:
    """The arguments after ``verify``, read without building argparse's parser.

    Building it costs a package-manager hook about 4 ms per run (a help
    formatter per option imports shutil; gettext imports locale). Only the
    plain spelling is read here (``--option value``, each option of
    :func:`add_parser` written out in full); anything else (help, ``=``,
    abbreviations, a value starting with ``-``, a usage error) returns None,
    and argparse parses it as before. The result equals argparse's (a test
    compares them).
    """
    values: dict[str, Any] = {"verbose": False, "command": "verify", "url": [],
                              "run": run_verify}
    values.update({option[2:].replace("-", "_"): None for option in _VALUES})
    values.update({flag[2:]: False for flag in _FLAGS})
    position = 0
    while position < len(arguments):
        option = arguments[position]
        if option in _FLAGS:
            values[option[2:]] = True
            position += 1
            continue
        if (option not in _VALUES and option != "--url") or position + 1 == len(arguments):
            return None
        value = arguments[position + 1]
        if value.startswith("-"):
            return None
        if option == "--url":
            values["url"].append(value)
        else:
            values[option[2:].replace("-", "_")] = _VALUES[option](value)
        position += 2
    if (values["repo"] is None) == (values["all"] is False):
        return None  # neither or both of the required, exclusive --repo / --all
    return argparse.Namespace(**values)


def _config_paths(args: argparse.Namespace) -> tuple[list[Path], bool]:
    if args.config is not None:
        return [args.config], True
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [_SYSTEM_CONFIG, Path(base) / "vigil" / "config.toml"], False


def _state_dir(args: argparse.Namespace, config: ClientConfig) -> Path:
    if args.state_dir is not None:
        return Path(args.state_dir)
    if config.state_dir is not None:
        return config.state_dir
    if os.geteuid() == 0:
        return Path("/var/lib/vigil")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vigil"


def _usage(message: str) -> int:
    print(f"vigil verify: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_verify(args: argparse.Namespace) -> int:
    """Run ``vigil verify``; returns the exit code."""
    from dataclasses import replace

    from vigil.client.config import load_config
    from vigil.client.run import Client
    from vigil.client.state import State, load_trusted_charter, read_charter_file
    from vigil.errors import ConfigError

    if args.offline and args.bundle is None:
        return _usage("--offline needs --bundle FILE (a bundle saved with --save-bundle)")
    if args.all and (args.bundle or args.metadata or args.save_bundle):
        return _usage("--all verifies the configured repositories; --bundle, --metadata "
                      "and --save-bundle name one repository (use --repo)")
    paths, required = _config_paths(args)
    config = load_config(paths, required=required)
    if args.url:
        config = replace(config, mirrors=(*(u.rstrip("/") for u in args.url), *config.mirrors))
    charter_path = args.charter or config.charter
    if charter_path is None:
        raise ConfigError("no trusted charter: pass --charter FILE or set 'charter' in "
                          "the configuration")
    root = load_trusted_charter(read_charter_file(Path(charter_path)))
    with State(_state_dir(args, config)) as state:
        client = Client(config, state, root)
        try:
            if args.all:
                targets = []
                for repository in config.repositories:
                    if repository.metadata is None:
                        raise ConfigError(f"repository {repository.name!r}: no 'metadata' "
                                          "path configured")
                    targets.append((repository.name, repository.metadata))
                if not targets:
                    raise ConfigError("--all: no [[repository]] configured")
                results = client.verify_all(targets)
            else:
                metadata = args.metadata or config.repository(args.repo).metadata
                if metadata is None:
                    return _usage(f"no metadata for {args.repo!r}: pass --metadata FILE")
                results = [client.verify(args.repo, Path(metadata), bundle_file=args.bundle,
                                         save_bundle=args.save_bundle)]
        finally:
            client.close()
    if args.json:
        _print_json(results, args.all)
    else:
        _render(results)
    return _exit_code(results)


def _exit_code(results: list[Result]) -> int:
    verdicts = {r.verdict for r in results}
    if "rejected" in verdicts:
        return EXIT_REJECTED
    if verdicts & {"stale", "unavailable"}:
        return EXIT_UNAVAILABLE
    return EXIT_OK


def result_json(result: Result) -> dict[str, Any]:
    """One result as JSON (the ``--json`` schema, documented in the README)."""
    from vigil.core.charter import digest_text

    document: dict[str, Any] = {
        "repository": result.repository,
        "verdict": result.verdict,
        "digest": digest_text(result.digest) if result.digest else None,
        "source": result.source or None,
        "transferred_bytes": result.transferred,
        "bundle_bytes": result.bundle_bytes,
    }
    if result.error:
        document["error"] = result.error
    report = result.report
    if report is not None:
        document["version"] = report.release.version if report.release else None
        document["charter"] = {"name": report.charter.name, "version": report.charter.version}
        document["checks"] = [
            {"name": c.name, "ok": c.outcome in ("pass", "warn"), "outcome": c.outcome,
             "detail": c.detail, "hint": c.hint}
            for c in report.checks
        ]
    document["evidence"] = [str(p) for p in result.evidence]
    return document


def _print_json(results: list[Result], many: bool) -> None:
    if many:
        code = _exit_code(results)
        verdict = {0: "verified", 1: "rejected", 3: "stale"}[code]
        print(json.dumps({"verdict": verdict, "repositories": [result_json(r)
                                                                for r in results]}, indent=1))
    else:
        print(json.dumps(result_json(results[0]), indent=1))


def _render(results: list[Result]) -> None:
    print(render_text(results, width=_width(), colour=_colour()), end="")


def _width() -> int:
    """The terminal's width, else ``COLUMNS``, else 80 (as rich did)."""
    try:
        return max(40, os.get_terminal_size(sys.stdout.fileno()).columns)
    except (OSError, ValueError):
        columns = os.environ.get("COLUMNS", "")
        return max(40, int(columns)) if columns.isdigit() else 80


def _colour() -> bool:
    """ANSI colours on a terminal, unless NO_COLOR is set or TERM is dumb."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ \
        and os.environ.get("TERM") != "dumb"


_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33"}


def render_text(results: list[Result], *, width: int, colour: bool) -> str:
    """The human output: a header per repository and a table of its checks.

    Plain text with optional ANSI colours, not rich: importing rich costs more
    (about 20 ms) than the verification does. The table's third column (what
    was found, then "→ what to do") is wrapped to ``width``.
    """

    def paint(text: str, style: str) -> str:
        if not colour or not text:
            return text
        codes = ";".join(_SGR[word] for word in style.split())
        return f"\x1b[{codes}m{text}\x1b[0m"

    out: list[str] = []
    for result in results:
        header = f"{paint(result.repository, 'bold')}  " \
            f"{paint(result.verdict.upper(), _VERDICT_COLOURS[result.verdict])}"
        if result.source:
            size = result.transferred or result.bundle_bytes
            header += paint(f"  via {result.source} ({size} B)", "dim")
        out.append(header)
        if result.report is None:
            out.append(f"  {paint('?', 'yellow')} {result.error}")
            out.append(paint("    → cannot confirm freshness: check the network or the "
                             "configured servers; verify later", "dim"))
            continue
        checks = result.report.checks
        title_width = max((len(c.title) for c in checks), default=0)
        indent = 3 + 2 + title_width + 2
        fold = max(20, width - indent)
        for check in checks:
            style = _COLOURS[check.outcome]
            lines = [paint(line, "") for line in _wrap(check.detail, fold)]
            if check.hint and check.outcome not in ("pass", "skip"):
                lines += [paint(line, "dim") for line in _wrap(f"→ {check.hint}", fold)]
            symbol = f" {_SYMBOLS[check.outcome]}".ljust(3)
            title = check.title.ljust(title_width)
            out.append(f"{paint(symbol, style)}  {paint(title, style)}  {lines[0]}".rstrip())
            out.extend(" " * indent + line for line in lines[1:])
        for path in result.evidence:
            out.append(f"  {paint('evidence kept:', 'red')} {path}")
    return "".join(line + "\n" for line in out)


def _wrap(text: str, width: int) -> list[str]:
    """Lines of ``text`` of at most ``width`` characters (long words are folded)."""
    import textwrap

    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines += textwrap.wrap(paragraph, width, break_on_hyphens=False) or [""]
    return lines
