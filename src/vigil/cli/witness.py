"""``vigil witness``: create and run a c2sp.org/tlog-witness server.

::

    vigil witness init DIR --name NAME
    vigil witness add-log DIR --origin ORIGIN --vkey VKEY [--url URL [--audit]]
    vigil witness serve DIR [--host HOST] [--port PORT] [--audit-workers N]
    vigil witness evidence DIR [--origin ORIGIN]

``init`` writes the cosigner key (``DIR/witness.key``, mode 0600) and
``DIR/config.toml`` and prints the witness vkey (for logs' tlog-policy
files). ``add-log`` adds a log to the config (editing the file by hand is
equivalent; restart the server either way); ``--audit`` makes the witness
audit the log (replay its entries from the tiles at ``--url`` and check its
status map before cosigning, :mod:`vigil.witness.audit`). ``serve`` prints
``listening on URL`` once bound (``--port 0`` picks a free port) and, for
audited logs, rebuilds the audited state from the tiles in the background. ``evidence`` lists the
validly signed but inconsistent checkpoints the witness kept, one JSON
object per line.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.cli.serving import configure_logging, listen, run_uvicorn
from vigil.core.cosignature import CosignatureSigner, generate_cosigner, parse_cosigner_key
from vigil.errors import ConfigError, FormatError, VigilError
from vigil.witness.config import WitnessConfig, add_log, format_config, parse_config
from vigil.witness.state import WitnessedLog

if TYPE_CHECKING:
    from vigil.witness.audit import TileAuditor
    from vigil.witness.service import WitnessService

CONFIG_FILE = "config.toml"


def add_parser(sub: Any) -> None:
    """Register ``vigil witness ...``."""
    parser = sub.add_parser("witness", help="run a witness that cosigns log checkpoints")
    witness_sub = parser.add_subparsers(dest="witness_command", metavar="ACTION", required=True)

    init = witness_sub.add_parser("init", help="create a new witness: key and config")
    init.add_argument("dir", type=Path, help="the witness directory (created; must be empty)")
    init.add_argument("--name", required=True, help="cosigner name, e.g. witness.example.org/w1")
    init.set_defaults(run=run_init)

    add = witness_sub.add_parser("add-log", help="witness a log (origin and key)")
    add.add_argument("dir", type=Path)
    add.add_argument("--origin", required=True, help="the log's checkpoint origin")
    add.add_argument("--vkey", required=True, help="the log's verifier key (type 0x01)")
    add.add_argument("--url", help="the log's tiles URL (c2sp.org/tlog-tiles)")
    add.add_argument(
        "--audit", action="store_true",
        help="audit the log before cosigning: replay its entries from --url and check the "
        "charter's rules and the status map",
    )
    add.set_defaults(run=run_add_log)

    follow = witness_sub.add_parser(
        "add-charter", help="witness every log a signed charter names (origin, key, URL)"
    )
    follow.add_argument("dir", type=Path)
    follow.add_argument("charter", type=Path, help="the charter envelope (*.dsse.json)")
    follow.add_argument("--audit", action="store_true",
                        help="audit each log (needs the URL the charter gives it)")
    follow.set_defaults(run=run_add_charter)

    serve = witness_sub.add_parser("serve", help="run the witness server")
    serve.add_argument("dir", type=Path)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    serve.add_argument(
        "--audit-workers", type=int, default=None, metavar="N",
        help="processes verifying entry signatures for audited logs (default: the number "
        "of CPUs, at most 4; 0: verify on the request thread)",
    )
    serve.set_defaults(run=run_serve)

    evidence = witness_sub.add_parser("evidence", help="list evidence of log misbehaviour")
    evidence.add_argument("dir", type=Path)
    evidence.add_argument("--origin")
    evidence.add_argument("--limit", type=int, default=1000)
    evidence.set_defaults(run=run_evidence)


def read_config(directory: Path) -> WitnessConfig:
    """Read ``DIR/config.toml``."""
    path = directory / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read witness config ({exc})") from exc
    return parse_config(text)


def load_cosigner(path: Path) -> CosignatureSigner:
    """Read a cosigner key file (``PRIVATE+KEY+...``, type 0x04)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read cosigner key: {exc}") from exc
    try:
        return parse_cosigner_key(text)
    except FormatError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _write_config(directory: Path, config: WitnessConfig) -> None:
    path = directory / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(format_config(config), encoding="utf-8")
    os.replace(tmp, path)


def run_init(args: argparse.Namespace) -> int:
    """Create the directory, the cosigner key (mode 0600) and the config."""
    directory: Path = args.dir
    if directory.exists() and any(directory.iterdir()):
        raise ConfigError(f"{directory}: exists and is not empty; refusing to initialize")
    try:
        signer = generate_cosigner(args.name)
    except FormatError as exc:
        raise ConfigError(f"--name: {exc}") from exc
    config = WitnessConfig(name=args.name, public_key=signer.vkey)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / config.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(signer.skey + "\n")
    _write_config(directory, config)
    print(f"created witness {config.name} in {directory}")
    print(f"witness key: {signer.vkey}")
    return 0


def run_add_log(args: argparse.Namespace) -> int:
    """Add a log (or another key of a log) to the config."""
    directory: Path = args.dir
    if args.audit and not args.url:
        raise ConfigError("--audit needs --url (the log's tiles URL)")
    config = add_log(read_config(directory), args.origin, args.vkey, args.url, audit=args.audit)
    _write_config(directory, config)
    audited = " (audited)" if any(log.audit for log in config.logs if log.origin == args.origin) \
        else ""
    print(f"witnessing {args.origin}{audited} ({len(config.logs)} logs); "
          "restart the server to apply")
    return 0


def run_add_charter(args: argparse.Namespace) -> int:
    """Witness the logs of a charter whose own foundation threshold signed it."""
    from vigil.core.charter import parse_signed_charter
    from vigil.core.dsse import parse_envelope

    directory: Path = args.dir
    try:
        signed = parse_signed_charter(parse_envelope(args.charter.read_bytes()))
    except OSError as exc:
        raise ConfigError(f"{args.charter}: cannot read ({exc.strerror})") from exc
    charter = signed.charter
    result = charter.foundation.evaluate(signed.signers)
    if not result.met:
        raise ConfigError(f"{args.charter}: {charter.label} is not signed by its foundation "
                          f"({result.describe()})")
    if not charter.logs:
        raise ConfigError(f"{charter.label} names no log")
    config = read_config(directory)
    for log in charter.logs:
        if any(log.key.vkey in entry.vkeys for entry in config.logs if entry.origin == log.origin):
            print(f"already witnessing {log.origin} with its key")
            continue
        url = log.urls[0] if log.urls else None
        if args.audit and url is None:
            raise ConfigError(f"{charter.label} gives log {log.origin} no URL to audit from")
        config = add_log(config, log.origin, log.key.vkey, url, audit=args.audit)
        print(f"witnessing {log.origin}{' (audited)' if args.audit else ''} "
              f"as {charter.label} names it")
    _write_config(directory, config)
    print("restart the server to apply")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Open the store, bind, print the address, serve until signalled."""
    from vigil.web.witness_app import create_app
    from vigil.witness.service import WitnessService
    from vigil.witness.storage import SQLiteWitnessStore

    configure_logging()
    directory: Path = args.dir
    config = read_config(directory)
    signer = load_cosigner(directory / config.key_file)
    if signer.vkey != config.public_key:
        raise ConfigError(f"witness key does not match the configured key {config.public_key!r}")
    logs = config.witnessed_logs()
    auditor = _auditor(logs, args.audit_workers)
    store = SQLiteWitnessStore(directory / config.database)
    service = WitnessService(
        signer=signer,
        logs=logs,
        store=store,
        auditor=auditor,
        max_body_bytes=config.max_body_bytes,
    )
    try:
        sock = listen(args.host, args.port)
    except ConfigError:
        service.close()
        if auditor is not None:
            auditor.close()
        raise
    if auditor is not None:
        _prepare_in_background(auditor, logs, service)
    try:
        run_uvicorn(create_app(service), sock, graceful_s=5)
    finally:
        if auditor is not None:
            auditor.close()
    return 0


def _auditor(logs: Sequence[WitnessedLog], workers: int | None) -> TileAuditor | None:
    """The auditor for the logs with ``audit = true``, or None if there are none."""
    from vigil._internal.http import HttpFetcher
    from vigil.witness.audit import TileAuditor

    if not any(log.audit for log in logs):
        return None
    if workers is None:
        workers = min(os.cpu_count() or 1, 4)
    if workers < 0:
        raise ConfigError(f"--audit-workers: got {workers}, want 0 or more")

    def fetcher_for(log: WitnessedLog) -> HttpFetcher:
        assert log.url is not None  # WitnessedLog refuses audit without a url
        return HttpFetcher(log.url, timeout_s=10.0)

    return TileAuditor(fetcher_for, workers=workers)


def _prepare_in_background(
    auditor: TileAuditor, logs: Sequence[WitnessedLog], service: WitnessService
) -> None:
    """Rebuild each audited log's state from its tiles, off the request path.

    A failure is only logged: the first add-checkpoint retries the rebuild
    (and answers 503 or 422 if it fails again).
    """
    latest = {state.origin: state for state in service.latest_states()}
    audited = [log for log in logs if log.audit]

    def run() -> None:
        for log in audited:
            try:
                auditor.prepare(log, latest.get(log.origin))
            except VigilError as exc:
                logging.getLogger("vigil.witness.audit").error(
                    "%s: cannot rebuild the audited state yet: %s", log.origin, exc
                )

    threading.Thread(target=run, name="vigil-audit-prepare", daemon=True).start()


def run_evidence(args: argparse.Namespace) -> int:
    """Print stored evidence, one JSON object per line."""
    from vigil.witness.storage import SQLiteWitnessStore

    directory: Path = args.dir
    config = read_config(directory)
    store = SQLiteWitnessStore(directory / config.database)
    try:
        for record in store.evidence(args.origin, limit=args.limit):
            print(json.dumps({
                "id": record.id,
                "origin": record.origin,
                "received_at": record.received_at,
                "reason": record.reason,
                "request": base64.b64encode(record.request).decode("ascii"),
            }, sort_keys=True))
    finally:
        store.close()
    return 0
