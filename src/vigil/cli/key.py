"""``vigil key``: generate Ed25519 signer keys in the C2SP signed-note formats."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from vigil.core import note
from vigil.errors import ConfigError


def add_parser(sub: Any) -> None:
    """Register ``vigil key generate`` and ``vigil key show``."""
    parser = sub.add_parser("key", help="generate and inspect signing keys")
    key_sub = parser.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    gen = key_sub.add_parser(
        "generate", help="new Ed25519 key: writes the signer key, prints the verifier key"
    )
    gen.add_argument("name", help="key name, e.g. example.org/publisher")
    gen.add_argument(
        "--out", type=Path, help="write the signer key here (mode 0600) instead of printing it"
    )
    gen.set_defaults(run=run_generate)
    show = key_sub.add_parser("show", help="print the verifier key of a signer key file")
    show.add_argument("file", type=Path)
    show.set_defaults(run=run_show)


def run_generate(args: argparse.Namespace) -> int:
    """Generate a key; never overwrite an existing key file."""
    signer = note.generate_signer(args.name)
    if args.out is None:
        print(signer.skey)
    else:
        try:
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise ConfigError(f"{args.out}: already exists; refusing to overwrite a key") from exc
        with os.fdopen(fd, "w") as out:
            out.write(signer.skey + "\n")
    print(signer.vkey)
    return 0


def load_signer(path: Path) -> note.Ed25519Signer:
    """Read a signer key file (``PRIVATE+KEY+...``)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read signer key: {exc}") from exc
    return note.parse_signer_key(text)


def run_show(args: argparse.Namespace) -> int:
    """Print the verifier key for a signer key file."""
    print(load_signer(args.file).vkey)
    return 0
