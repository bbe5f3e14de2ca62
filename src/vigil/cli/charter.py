"""``vigil charter``: write, read, compare, sign, verify and log charters.

    vigil charter init --name NAME --foundation-key VKEY... --threshold T [--out FILE]
    vigil charter show FILE
    vigil charter diff OLD NEW
    vigil charter sign FILE --key KEYFILE [--signatures ENVELOPE] [--previous OLD]
    vigil charter verify ENVELOPE... [--trusted FILE]
    vigil charter submit ENVELOPE [--url URL --log-key VKEY]

FILE, OLD and NEW may be charter TOML files or signed charter envelopes. The
signatures of a charter ``X.toml`` collect in ``X.toml.dsse.json`` unless
``--signatures`` says otherwise: pass that file from holder to holder, each
running ``vigil charter sign`` with their own key.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from vigil.cli.key import load_signer
from vigil.core.charter import Charter, parse_charter, parse_signed_charter, verify_chain
from vigil.core.dsse import format_envelope, parse_envelope
from vigil.errors import ConfigError, FormatError, VerificationError


def add_parser(sub: Any) -> None:
    """Register ``vigil charter ...``."""
    parser = sub.add_parser("charter", help="write, read, sign, verify and log charters")
    charter_sub = parser.add_subparsers(dest="charter_command", metavar="ACTION", required=True)

    init = charter_sub.add_parser("init", help="write a first charter (version 1) to edit")
    init.add_argument("--name", required=True, help="the charter's name, e.g. the distribution")
    init.add_argument("--foundation-key", action="append", required=True, metavar="VKEY",
                      help="a foundation member's verifier key (repeat for each)")
    init.add_argument("--threshold", type=int, required=True,
                      help="how many foundation keys must sign")
    init.add_argument("--out", type=Path, default=Path("charter.toml"))
    init.set_defaults(run=run_init)

    show = charter_sub.add_parser("show", help="say in words what a charter says")
    show.add_argument("file", type=Path)
    show.set_defaults(run=run_show)

    diff = charter_sub.add_parser("diff", help="say in words what changes between two versions")
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)
    diff.set_defaults(run=run_diff)

    sign = charter_sub.add_parser("sign", help="add your signature to a charter version")
    sign.add_argument("file", type=Path, help="the charter TOML")
    sign.add_argument("--key", type=Path, required=True, help="your signer key file")
    sign.add_argument("--signatures", type=Path,
                      help="the envelope collecting signatures (default FILE.dsse.json)")
    sign.add_argument("--previous", type=Path,
                      help="the version it replaces, to show that threshold too")
    sign.set_defaults(run=run_sign)

    verify = charter_sub.add_parser("verify", help="verify a chain of signed charter versions")
    verify.add_argument("envelopes", type=Path, nargs="+", help="signed versions, oldest first")
    verify.add_argument("--trusted", type=Path,
                        help="a version you already trust (TOML or envelope); else start at 1")
    verify.set_defaults(run=run_verify)

    submit = charter_sub.add_parser("submit", help="log a signed charter version")
    submit.add_argument("envelope", type=Path)
    add_log_arguments(submit)
    submit.set_defaults(run=run_submit)


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--log-key`` (defaults from VIGIL_LOG_URL, VIGIL_LOG_KEY)."""
    parser.add_argument("--url", default=os.environ.get("VIGIL_LOG_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--log-key", default=os.environ.get("VIGIL_LOG_KEY"),
                        help="the log's verifier key (or VIGIL_LOG_KEY)")


def read_file(path: Path) -> bytes:
    """A file's bytes, or ConfigError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc


def write_file(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename (never a half-written signature file)."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc})") from exc


def load_charter(path: Path) -> Charter:
    """A charter from a TOML file or a signed envelope."""
    data = read_file(path)
    try:
        return parse_signed_charter(parse_envelope(data)).charter
    except FormatError:
        pass
    try:
        return parse_charter(data)
    except FormatError as exc:
        raise FormatError(f"{path}: {exc}") from exc


def submit_envelope(args: argparse.Namespace, data: bytes) -> int:
    """Submit an envelope to the log and print the verified receipt."""
    from vigil.core.note import parse_verifier_key
    from vigil.log.client import LogClient

    if not args.log_key:
        raise ConfigError("no log key: pass --log-key VKEY (or set VIGIL_LOG_KEY)")
    verifier = parse_verifier_key(args.log_key)
    with LogClient(args.url, origin=verifier.name, log_key=verifier) as client:
        receipt = client.submit(data)
    state = "included" if receipt.checkpoint is not None else "sequenced, not yet in a checkpoint"
    print(f"logged at index {receipt.index} ({state}); leaf hash {receipt.leaf_hash.hex()}")
    return 0


def run_init(args: argparse.Namespace) -> int:
    """Write a version-1 charter to edit."""
    from vigil.roles.charter import charter_template

    if args.out.exists():
        raise ConfigError(f"{args.out}: exists; refusing to overwrite")
    data = charter_template(args.name, args.foundation_key, args.threshold)
    write_file(args.out, data)
    print(f"wrote {args.out}: edit it, then each foundation member runs "
          f"`vigil charter sign {args.out} --key KEYFILE`")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Describe a charter in words."""
    from vigil.roles.charter import describe_charter

    for line in describe_charter(load_charter(args.file)):
        print(line)
    return 0


def run_diff(args: argparse.Namespace) -> int:
    """Describe the changes between two versions."""
    from vigil.roles.charter import describe_changes

    old, new = load_charter(args.old), load_charter(args.new)
    print(f"From version {old.version} to version {new.version} of {new.name!r}:")
    for line in describe_changes(old, new):
        print(f"- {line}")
    return 0


def run_sign(args: argparse.Namespace) -> int:
    """Add the holder's signature and show which thresholds are met."""
    from vigil.roles.charter import add_charter_signature, signature_status

    signer = load_signer(args.key)
    charter_bytes = read_file(args.file)
    target: Path = args.signatures or args.file.with_name(args.file.name + ".dsse.json")
    envelope = parse_envelope(read_file(target)) if target.exists() else None
    envelope = add_charter_signature(charter_bytes, envelope, signer)
    write_file(target, format_envelope(envelope))
    previous = load_charter(args.previous) if args.previous is not None else None
    print(f"signed {args.file} as {signer.name} ({signer.key_hash.hex()}); signatures in {target}")
    for line in signature_status(parse_signed_charter(envelope), previous):
        print(f"  {line}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Verify a chain; print each step."""
    trusted = load_charter(args.trusted) if args.trusted is not None else None
    signed = []
    for path in args.envelopes:
        try:
            signed.append(parse_signed_charter(parse_envelope(read_file(path))))
        except FormatError as exc:
            raise FormatError(f"{path}: {exc}") from exc
    try:
        verified = verify_chain(signed, trusted=trusted)
    except VerificationError as exc:
        print(f"NOT VALID: {exc}", file=sys.stderr)
        return 1
    for charter in verified.chain:
        print(f"ok: {charter.label} (sha256:{charter.digest.hex()})")
    print(f"current: {verified.charter.label}")
    return 0


def run_submit(args: argparse.Namespace) -> int:
    """Log a signed charter version."""
    data = read_file(args.envelope)
    parse_signed_charter(parse_envelope(data))
    return submit_envelope(args, data)
