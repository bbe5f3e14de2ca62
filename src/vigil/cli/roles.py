"""``vigil release``, ``vigil attest``, ``vigil advisory``: role statements.

    vigil release create PATH --repository R --version N [--format F] [--artifacts]
                                [--published TIME] [--out FILE]
                                [--delta-from RELEASE]...
    vigil release sign FILE --key KEYFILE [--out FILE]
    vigil release submit ENVELOPE [--url URL --log-key VKEY]

    vigil attest RELEASE REBUILT_DIR --key KEYFILE --builder ID [--out FILE]
    vigil attest RELEASE --from-rebuilderd LINK... --rebuilderd-key KEYFILE...
                 --key KEYFILE --builder ID [--out FILE]

    vigil advisory create --repository R --id ID --action warn|block
                          (--release FILE | --release-digest sha256:HEX)
                          --introduced N [--fixed M] [--package P]... [--summary TEXT]
                          [--osv FILE] [--out FILE]
    vigil advisory withdraw ID --repository R --id NEW_ID (--release FILE | --release-digest D)
    vigil advisory sign FILE --key KEYFILE [--out FILE]
    vigil advisory submit ENVELOPE [--url URL --log-key VKEY]

    vigil owners create --repository R --counter N --package NAME=OWNER[,OWNER...]...
                        [--out FILE]
    vigil owners sign FILE --key KEYFILE [--out FILE]
    vigil owners submit ENVELOPE [--url URL --log-key VKEY]

``create`` writes an unsigned statement; ``sign`` turns it into an envelope
(``FILE.dsse.json``) or adds a signature to an envelope in place, so several
holders sign in turn. ``--delta-from`` makes a delta release (ADR 0012): it
lists only the artifacts added or changed since the given releases, and the
names removed; ``attest`` on a delta compares only what it lists.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from vigil.cli.charter import add_log_arguments, read_file, submit_envelope, write_file
from vigil.cli.key import load_signer
from vigil.core.charter import parse_digest
from vigil.core.dsse import format_envelope
from vigil.core.intoto import Statement
from vigil.core.statements import (
    ADVISORY_PREDICATE_TYPE,
    OWNERS_PREDICATE_TYPE,
    REBUILD_PREDICATE_TYPE,
    RELEASE_PREDICATE_TYPE,
    Release,
    advisory_statement,
    owners_statement,
    parse_release,
    parse_time,
)
from vigil.errors import ConfigError


def add_parsers(sub: Any) -> None:
    """Register ``vigil release``, ``vigil attest`` and ``vigil advisory``."""
    release = sub.add_parser("release", help="publish a repository state")
    release_sub = release.add_subparsers(dest="release_command", metavar="ACTION", required=True)
    create = release_sub.add_parser("create", help="build a release statement from a repository")
    create.add_argument("path", type=Path, help="repository directory or its metadata file")
    create.add_argument("--repository", required=True, help="the repository's charter name")
    create.add_argument("--version", type=int, required=True, help="release version (monotonic)")
    create.add_argument("--format", help="force the format (default: detect)")
    create.add_argument("--artifacts", action="store_true", help="list package digests too")
    create.add_argument(
        "--delta-from", type=Path, action="append", default=[], metavar="RELEASE",
        help="list only what changed since these releases (statement or envelope files: the "
        "last full release, then the deltas since, oldest first; repeat the option); "
        "implies --artifacts",
    )
    create.add_argument("--published", help="publication time YYYY-MM-DDTHH:MM:SSZ (default now)")
    create.add_argument("--out", type=Path, help="write the statement here (default stdout)")
    create.set_defaults(run=run_release_create)
    _sign_and_submit(release_sub, RELEASE_PREDICATE_TYPE, "release")

    attest = sub.add_parser("attest", help="attest a rebuild of a release")
    attest.add_argument("release", type=Path, help="the release statement or envelope")
    attest.add_argument("rebuilt", type=Path, nargs="?",
                        help="directory with the rebuilt artifacts (or --from-rebuilderd)")
    attest.add_argument("--from-rebuilderd", type=Path, nargs="+", metavar="LINK",
                        help="rebuilderd's signed in-toto link files, instead of a directory")
    attest.add_argument("--rebuilderd-key", type=Path, action="append", default=[],
                        metavar="KEYFILE",
                        help="the rebuilderd signing key: PEM PUBLIC KEY (several blocks "
                             "allowed), in-toto key JSON, or 64 hex; repeatable")
    attest.add_argument("--key", type=Path, required=True, help="the rebuilder's signer key")
    attest.add_argument("--builder", required=True, help="the rebuilder's identity (URI)")
    attest.add_argument("--out", type=Path, help="the signed attestation (default stdout)")
    attest.set_defaults(run=run_attest)

    advisory = sub.add_parser("advisory", help="warn about or block repository versions")
    advisory_sub = advisory.add_subparsers(dest="advisory_command", metavar="ACTION",
                                           required=True)
    create = advisory_sub.add_parser("create", help="build an advisory statement")
    _advisory_target(create)
    create.add_argument("--action", choices=["warn", "block"], required=True)
    create.add_argument("--introduced", type=int, required=True, help="first affected version")
    create.add_argument("--fixed", type=int, help="first fixed version")
    create.add_argument("--package", action="append", default=[], help="an affected package")
    create.add_argument("--summary", default="", help="one line for people")
    create.add_argument("--osv", type=Path, help="OSV JSON to carry")
    create.add_argument("--withdraws", help="an advisory id this one replaces")
    create.set_defaults(run=run_advisory_create)
    withdraw = advisory_sub.add_parser("withdraw", help="build a withdrawal of an advisory")
    withdraw.add_argument("withdraws", help="the advisory id to withdraw")
    _advisory_target(withdraw)
    withdraw.set_defaults(run=run_advisory_withdraw)
    _sign_and_submit(advisory_sub, ADVISORY_PREDICATE_TYPE, "advisory")
    owners = sub.add_parser("owners", help="set package owners (janitor quorum; ADR 0013)")
    owners_sub = owners.add_subparsers(dest="owners_command", metavar="ACTION", required=True)
    create = owners_sub.add_parser("create", help="build an owners authorisation statement")
    create.add_argument("--repository", required=True)
    create.add_argument("--counter", type=int, required=True,
                        help="1 for the repository's first authorisation, then one more each")
    create.add_argument(
        "--package", action="append", required=True, metavar="NAME=OWNER[,OWNER...]",
        help="a package and its owners (verifier keys or team:NAME); NAME= for no owner",
    )
    create.add_argument("--out", type=Path, help="write the statement here (default stdout)")
    create.set_defaults(run=run_owners_create)
    _sign_and_submit(owners_sub, OWNERS_PREDICATE_TYPE, "owners authorisation")


def _advisory_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repository", required=True)
    parser.add_argument("--id", required=True, help="this advisory's id")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--release", type=Path, help="the release it is issued against")
    group.add_argument("--release-digest", help="that release's state digest sha256:HEX")
    parser.add_argument("--out", type=Path, help="write the statement here (default stdout)")


def _sign_and_submit(sub: Any, predicate_type: str, what: str) -> None:
    sign = sub.add_parser("sign", help=f"add your signature to a {what}")
    sign.add_argument("file", type=Path, help="the statement or envelope")
    sign.add_argument("--key", type=Path, required=True, help="your signer key file")
    sign.add_argument("--out", type=Path,
                      help="the envelope (default: in place, or FILE.dsse.json for a statement)")
    sign.set_defaults(run=run_sign, predicate_type=predicate_type)
    submit = sub.add_parser("submit", help=f"log a signed {what}")
    submit.add_argument("envelope", type=Path)
    add_log_arguments(submit)
    submit.set_defaults(run=run_submit, predicate_type=predicate_type)


def _emit(statement_or_envelope: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(statement_or_envelope.decode("utf-8") + "\n")
    else:
        write_file(out, statement_or_envelope)
        print(f"wrote {out}", file=sys.stderr)


def run_release_create(args: argparse.Namespace) -> int:
    """Detect the state digest and write the release statement."""
    from vigil.roles.release import create_delta_release, create_release, detect_state
    from vigil.roles.statements import release_from_file

    previous = [release_from_file(read_file(path)) for path in args.delta_from]
    state = detect_state(args.path, format=args.format, artifacts=args.artifacts or bool(previous))
    published = (
        parse_time(args.published, what="--published") if args.published else int(time.time())
    )
    values = {"repository": args.repository, "version": args.version, "published_s": published}
    if previous:
        statement = create_delta_release(state, previous, **values)
        release = parse_release(statement)
        listing = (f"{len(state.artifacts)} artifacts; delta from release "
                   f"{previous[-1].version}: {len(release.artifacts)} added or changed, "
                   f"{len(release.removed)} removed")
    else:
        statement = create_release(state, **values)
        listing = f"{len(state.artifacts)} artifacts"
    print(
        f"{state.format} state {state.state.name}: sha256 {state.state.digest['sha256']} "
        f"({listing}) from {state.source}",
        file=sys.stderr,
    )
    _emit(statement.raw, args.out)
    return 0


def run_owners_create(args: argparse.Namespace) -> int:
    """Write an unsigned owners authorisation (the janitors sign it in turn)."""
    packages: dict[str, list[str]] = {}
    for text in args.package:
        name, equals, owners = text.partition("=")
        if not equals or name in packages:
            raise ConfigError(f"--package {text[:80]!r}: want NAME=OWNER[,OWNER...], once per NAME")
        packages[name] = [o for o in owners.split(",") if o]
    statement = owners_statement(
        repository=args.repository, counter=args.counter, packages=packages
    )
    _emit(statement.raw, args.out)
    return 0


def run_sign(args: argparse.Namespace) -> int:
    """Sign a statement file, or add a signature to an envelope."""
    from vigil.roles.statements import read_signable, sign_statement_file

    data = read_file(args.file)
    signer = load_signer(args.key)
    envelope = sign_statement_file(data, signer, predicate_type=args.predicate_type)
    out = args.out
    if out is None:
        _, existing = read_signable(data)
        out = args.file if existing is not None else args.file.with_name(
            args.file.stem + ".dsse.json"
        )
    write_file(out, format_envelope(envelope))
    print(f"signed as {signer.name} ({signer.key_hash.hex()}); {len(envelope.signatures)} "
          f"signature(s) in {out}")
    return 0


def run_submit(args: argparse.Namespace) -> int:
    """Check the envelope's kind and log it."""
    from vigil.roles.statements import read_signable

    data = read_file(args.envelope)
    statement, envelope = read_signable(data)
    if envelope is None:
        raise ConfigError(f"{args.envelope}: not signed yet (run sign first)")
    if statement.predicate_type != args.predicate_type:
        raise ConfigError(f"{args.envelope}: a {statement.predicate_type}, not what this submits")
    return submit_envelope(args, data)


def run_attest(args: argparse.Namespace) -> int:
    """Compare rebuilt artifacts (or rebuilderd links) with the release; write
    the signed attestation."""
    from vigil.core.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
    from vigil.core.statements import parse_rebuild
    from vigil.roles.statements import attest, release_from_file

    if (args.rebuilt is None) == (args.from_rebuilderd is None):
        raise ConfigError("attest: give either REBUILT_DIR or --from-rebuilderd LINK..., not both")
    if args.rebuilderd_key and args.from_rebuilderd is None:
        raise ConfigError("attest: --rebuilderd-key goes with --from-rebuilderd")
    signer = load_signer(args.key)
    release = release_from_file(read_file(args.release))
    if args.from_rebuilderd is not None:
        statement = _attest_links(args, release)
    else:
        statement = attest(release, args.rebuilt, builder=args.builder)
    rebuild = parse_rebuild(statement)
    for result in rebuild.results:
        print(f"{result.result:10} {result.name}", file=sys.stderr)
    print(f"outcome: {rebuild.outcome}", file=sys.stderr)
    assert statement.predicate_type == REBUILD_PREDICATE_TYPE
    envelope = sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, [signer])
    _emit(format_envelope(envelope), args.out)
    return 0


def _attest_links(args: argparse.Namespace, release: Release) -> Statement:
    from vigil.core.intoto_link import LinkKey, parse_link_keys
    from vigil.errors import FormatError
    from vigil.roles.rebuilderd import attest_links

    if not args.rebuilderd_key:
        raise ConfigError("attest --from-rebuilderd: pass the rebuilderd key (--rebuilderd-key)")
    keys: list[LinkKey] = []
    for path in args.rebuilderd_key:
        try:
            keys.extend(parse_link_keys(read_file(path)))
        except FormatError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    links = [(str(path), read_file(path)) for path in args.from_rebuilderd]
    attestation = attest_links(release, links, keys, builder=args.builder)
    for (label, _), verified in zip(links, attestation.links, strict=True):
        print(f"verified   {label}: {verified.link.name!r} signed by key "
              f"{verified.key.keyid[:16]}", file=sys.stderr)
    return attestation.statement


def _release_digest(args: argparse.Namespace) -> bytes:
    from vigil.roles.statements import release_from_file

    if args.release is not None:
        release = release_from_file(read_file(args.release))
        if release.repository != args.repository:
            raise ConfigError(
                f"{args.release}: a release of {release.repository!r}, not {args.repository!r}"
            )
        return release.digest
    return parse_digest(args.release_digest, what="--release-digest")


def _advisory(args: argparse.Namespace, **values: Any) -> Statement:
    return advisory_statement(
        id=args.id, repository=args.repository, release_digest=_release_digest(args), **values
    )


def run_advisory_create(args: argparse.Namespace) -> int:
    """Write an advisory statement."""
    osv = json.loads(read_file(args.osv)) if args.osv is not None else None
    statement = _advisory(
        args, action=args.action, introduced=args.introduced, fixed=args.fixed,
        packages=args.package, summary=args.summary, osv=osv, withdraws=args.withdraws,
    )
    _emit(statement.raw, args.out)
    return 0


def run_advisory_withdraw(args: argparse.Namespace) -> int:
    """Write an advisory statement that withdraws another."""
    statement = _advisory(args, action="withdraw", withdraws=args.withdraws)
    _emit(statement.raw, args.out)
    return 0
