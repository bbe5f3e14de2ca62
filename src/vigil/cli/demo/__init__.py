"""``vigil demo``: the main job, a whole federation on this machine, told as a story.

    vigil demo [--workdir DIR] [--commands]
    vigil demo --self-check [--entries N]

The story (:mod:`vigil.cli.demo.story`) runs a foundation, a log, three
witnesses, a publisher, two rebuilders, a security team and a user as real
processes and real tools on loopback, then three attacks the user's client
must reject. It exits 0 only if every step went as expected, and stops every
process it started when it ends, however it ends (also on Ctrl-C or SIGTERM).

``--workdir`` keeps every party's files for a look afterwards (default: a
temporary directory, removed). ``--commands`` prints each ``vigil`` command
as the parties type it. ``--self-check`` runs the older in-memory check of the
core formats instead (:mod:`vigil.cli.demo.selfcheck`).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from vigil.errors import ConfigError

__all__ = ["add_parser", "run_demo"]


def add_parser(sub: Any) -> None:
    """Register ``vigil demo``."""
    parser = sub.add_parser(
        "demo", help="run the main job: a local federation, its users and three attacks"
    )
    parser.add_argument("--workdir", type=Path,
                        help="keep every party's files here (new or empty directory)")
    parser.add_argument("--commands", action="store_true",
                        help="show each vigil command the parties run")
    parser.add_argument("--self-check", action="store_true",
                        help="run the in-memory self-check of the core formats instead")
    parser.add_argument("--entries", type=int, default=2000,
                        help="--self-check: log entries to create")
    parser.set_defaults(run=run_demo)


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the story's ``finally`` stops the servers."""
    raise KeyboardInterrupt


def run_demo(args: argparse.Namespace) -> int:
    """Run the story (or the self-check); 0 only if everything went as expected."""
    if args.self_check:
        from vigil.cli.demo.selfcheck import run_self_check

        return run_self_check(args.entries)

    from rich.console import Console

    from vigil.cli.demo.packages import missing_tools
    from vigil.cli.demo.story import DemoStory, Narrator

    missing = missing_tools()
    if missing:
        raise ConfigError(
            f"the demo needs {', '.join(missing)}: install the Debian packages named"
        )
    keep = args.workdir is not None
    if keep:
        workdir: Path = args.workdir.resolve()
        if workdir.exists() and any(workdir.iterdir()):
            raise ConfigError(f"{workdir}: not empty; the demo needs a new or empty directory")
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="vigil-demo-"))
    console = Console(highlight=False)
    narrator = Narrator(console, show_commands=args.commands)
    previous = signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    try:
        story = DemoStory(workdir, narrator, keep=keep)
        failures = story.run()
    except KeyboardInterrupt:
        console.print("\n[bold red]interrupted[/bold red]: every process it started is stopped")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    where = f"; the files are in {workdir}" if keep else ""
    if failures:
        console.print(f"\n[bold red]{failures} step(s) did not go as expected[/bold red] "
                      f"({elapsed:.1f} s{where}).")
        return 1
    console.print(
        f"\n[bold green]Every step went as expected and every attack was caught[/bold green] "
        f"in {elapsed:.1f} s, with {story.commands.ran} vigil commands{where}. "
        "Nothing is left running."
    )
    return 0
