"""``vigil audit URL``: replay a log from its tiles and check every root it signed.

    vigil audit URL --log-key VKEY [--origin ORIGIN] [--checkpoint FILE ...]

Exit status 0 if the log checked out, 1 if it lied (the first index where it
did is printed), 3 if it could not be read.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from vigil.core.note import parse_verifier_key
from vigil.errors import ConfigError


def add_parser(sub: Any) -> None:
    """Register ``vigil audit``."""
    parser = sub.add_parser(
        "audit", help="replay a log from its tiles and check its checkpoints and status map"
    )
    parser.add_argument("url", help="the log's URL, e.g. https://log.example.org")
    parser.add_argument("--log-key", default=os.environ.get("VIGIL_LOG_KEY"),
                        help="the log's verifier key (or VIGIL_LOG_KEY)")
    parser.add_argument("--origin", help="the log's origin (default: the log key's name)")
    parser.add_argument("--checkpoint", type=Path, action="append", default=[],
                        help="an older checkpoint of this log to check too (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    """Run the audit with a progress bar; print the findings."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from vigil.monitor.audit import audit_log
    from vigil.monitor.fetch import HttpFetcher

    if not args.log_key:
        raise ConfigError("no log key: pass --log-key VKEY (or set VIGIL_LOG_KEY)")
    log_key = parse_verifier_key(args.log_key)
    origin = args.origin or log_key.name
    notes = []
    for path in args.checkpoint:
        try:
            notes.append(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc})") from exc
    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]replaying[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("entries"),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with HttpFetcher(args.url) as fetcher, Progress(
        *columns, console=console, disable=args.quiet, transient=False
    ) as progress:
        task = progress.add_task(origin, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = audit_log(
            fetcher, origin=origin, log_key=log_key, checkpoints=notes, progress=update
        )
    out = sys.stdout
    out.write(f"log {report.origin}: replayed {report.size} entries, "
              f"{report.records} status records\n")
    for check in report.checks:
        verdict = "ok" if check.ok else "WRONG"
        status = "no status map" if check.claimed_status is None else "status map"
        out.write(f"  checkpoint {check.size}: tree {'ok' if check.tree_ok else 'WRONG'}, "
                  f"{status} {verdict}\n")
    for violation in report.violations[:20]:
        out.write(f"  entry {violation.index} breaks the rules: {violation.error}\n")
    if report.lie is None:
        out.write("consistent: every checked checkpoint is what an honest log would sign\n")
        return 0
    out.write(f"THE LOG LIED {report.lie.describe()}\n")
    return 1
