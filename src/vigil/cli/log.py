"""``vigil log``: create and run a log server, and a verifying client for its API.

Server side::

    vigil log init DIR --origin ORIGIN [--db URL] [--charter ENVELOPE ...]
    vigil log serve DIR [--host HOST] [--port PORT]

``--charter`` makes the signed charter (version 1, then any later versions
in order) the first entries of the new log: the genesis of its roles.

Client side (each verifies the log's checkpoint signature and the proofs it
receives; the log key comes from ``--log-key`` or the log directory's config)::

    vigil log submit FILE...
    vigil log get INDEX
    vigil log checkpoint
    vigil log proof inclusion (--leaf-hash HEX | --file FILE)
    vigil log proof consistency --old-checkpoint FILE
    vigil log search (--digest ALG:HEX | --signer VKEY | --repository NAME)
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.cli.key import load_signer
from vigil.cli.serving import UVICORN_OPTIONS, configure_logging, listen, run_uvicorn, shown_address
from vigil.core import merkle
from vigil.core.charter import CHARTER_PREDICATE_TYPE
from vigil.core.dsse import format_envelope, parse_envelope
from vigil.core.note import generate_signer, parse_verifier_key
from vigil.core.policy import parse_policy
from vigil.errors import ConfigError, FormatError
from vigil.log.client import LogClient, VerifiedEntry
from vigil.log.config import DEFAULT_DATABASE, LogConfig, format_config, parse_config
from vigil.log.storage import open_storage
from vigil.log.storage.base import NewEntry
from vigil.log.witnesses import WitnessCollector

if TYPE_CHECKING:
    from vigil.log.maprelay import MapRelay
    from vigil.log.service import LogService

CONFIG_FILE = "config.toml"
DEFAULT_URL = "http://127.0.0.1:8080"


def add_parser(sub: Any) -> None:
    """Register ``vigil log ...``."""
    parser = sub.add_parser("log", help="run a transparency log, or talk to one")
    log_sub = parser.add_subparsers(dest="log_command", metavar="ACTION", required=True)

    init = log_sub.add_parser("init", help="create a new log: key, config, storage")
    init.add_argument("dir", type=Path, help="the log directory (created; must be empty)")
    init.add_argument("--origin", required=True, help="checkpoint origin, e.g. log.example.org")
    init.add_argument(
        "--db", default=DEFAULT_DATABASE,
        help=f"sqlite:PATH (relative to DIR) or postgresql://... (default {DEFAULT_DATABASE})",
    )
    init.add_argument(
        "--charter", type=Path, action="append", default=[], metavar="ENVELOPE",
        help="a signed charter envelope to log first (version 1; repeat for later versions)",
    )
    init.add_argument(
        "--key", type=Path, metavar="KEYFILE",
        help="use this signer key (from `vigil key generate ORIGIN`), e.g. the one the "
        "charter names; default: generate one",
    )
    init.set_defaults(run=run_init)

    serve = log_sub.add_parser("serve", help="run the log server")
    serve.add_argument("dir", type=Path, help="the log directory")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument(
        "--workers", type=int, default=0,
        help="HTTP front-end processes beside the sequencer process (0: one process "
        "does everything); more use more cores",
    )
    serve.set_defaults(run=run_serve)

    # Started by `serve --workers N` only: one front-end process.
    frontend = log_sub.add_parser("serve-frontend")
    frontend.add_argument("dir", type=Path)
    frontend.add_argument("--listen-fd", type=int, required=True)
    frontend.add_argument("--link-fd", type=int, required=True)
    frontend.set_defaults(run=run_serve_frontend)

    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = log_sub.add_parser(name, help=help_text)
        p.add_argument("--url", default=os.environ.get("VIGIL_LOG_URL", DEFAULT_URL))
        p.add_argument("--log-key", default=os.environ.get("VIGIL_LOG_KEY"),
                       help="the log's verifier key (or use --log-dir)")
        p.add_argument("--log-dir", type=Path, help="read the log key from DIR/config.toml")
        p.add_argument("--origin", help="the log's origin (default: the log key's name)")
        return p

    submit = client("submit", "submit DSSE envelope files")
    submit.add_argument("files", type=Path, nargs="+")
    submit.set_defaults(run=run_submit)

    get = client("get", "fetch and verify an entry")
    get.add_argument("index", type=int)
    get.add_argument("--out", type=Path, help="write the entry bytes here")
    get.set_defaults(run=run_get)

    checkpoint = client("checkpoint", "fetch and verify the latest checkpoint")
    checkpoint.add_argument("--out", type=Path, help="save the checkpoint note here")
    checkpoint.set_defaults(run=run_checkpoint)

    proof = client("proof", "verify inclusion or consistency proofs")
    proof.add_argument("kind", choices=["inclusion", "consistency"])
    proof.add_argument("--leaf-hash", help="inclusion: the leaf hash (hex)")
    proof.add_argument("--file", type=Path, help="inclusion: a DSSE envelope file")
    proof.add_argument("--old-checkpoint", type=Path, help="consistency: a saved checkpoint")
    proof.set_defaults(run=run_proof)

    search = client("search", "find entries by digest, signer or repository")
    group = search.add_mutually_exclusive_group(required=True)
    group.add_argument("--digest", help="ALGORITHM:VALUE, e.g. sha256:<hex>")
    group.add_argument("--signer", help="a signer's verifier key")
    group.add_argument("--repository", help="a repository name")
    search.add_argument("--limit", type=int, default=100)
    search.add_argument("--all", action="store_true", help="follow every page")
    search.set_defaults(run=run_search)


_GC_THRESHOLD = 200_000  # allocations between young-generation collections

# -- server ------------------------------------------------------------------------------


def read_config(directory: Path) -> LogConfig:
    """Read ``DIR/config.toml``."""
    path = directory / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read log config ({exc})") from exc
    return parse_config(text)


def run_init(args: argparse.Namespace) -> int:
    """Create the directory, the log key (mode 0600), the config and the storage."""
    directory: Path = args.dir
    if directory.exists() and any(directory.iterdir()):
        raise ConfigError(f"{directory}: exists and is not empty; refusing to initialize")
    if args.key is not None:
        from vigil.cli.key import load_signer

        signer = load_signer(args.key)
        if signer.name != args.origin:
            raise ConfigError(
                f"{args.key}: key name {signer.name!r} is not the origin {args.origin!r} "
                "(a checkpoint is signed under its origin's name)"
            )
    else:
        signer = generate_signer(args.origin)
    config = LogConfig(origin=args.origin, public_key=signer.vkey, database=args.db)
    genesis = _genesis_entries(config, args.charter)  # refuse a bad charter before writing
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / config.key_file
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(signer.skey + "\n")
    (directory / CONFIG_FILE).write_text(format_config(config), encoding="utf-8")
    (directory / config.tiles_dir).mkdir(exist_ok=True)
    storage = open_storage(config.database, base_dir=directory)
    try:
        storage.initialize(origin=config.origin, public_key=config.public_key)
        if genesis:
            storage.append_entries(0, genesis)
    finally:
        storage.close()
    print(f"created log {config.origin} in {directory}")
    print(f"log key: {signer.vkey}")
    for index, path in enumerate(args.charter):
        print(f"entry {index}: charter {path}")
    return 0


def _genesis_entries(config: LogConfig, paths: list[Path]) -> list[NewEntry]:
    """Admit and judge the charter envelopes as entries 0, 1, ... (refusing bad ones)."""
    from vigil.core.statusmap import LoggedEntry, StatusMap
    from vigil.log.charter_policy import charter_registry
    from vigil.log.entry import EntryValidator

    validator = EntryValidator(limits=config.limits, registry=charter_registry())
    state = StatusMap()
    entries = []
    for index, path in enumerate(paths):
        entry = validator.validate(format_envelope(parse_envelope(_read_file(path))))
        if entry.statement is None or entry.statement.predicate_type != CHARTER_PREDICATE_TYPE:
            raise ConfigError(f"{path}: not a charter envelope")
        state.apply(LoggedEntry(index, entry.statement, entry.signers))
        entries.append(NewEntry(entry.leaf_hash, entry.data, entry.index_keys))
    return entries


def run_serve(args: argparse.Namespace) -> int:
    """Open the log (lock, recovery), bind, print the address, serve until signalled."""
    from vigil.log import charter_policy
    from vigil.log.service import open_log_service
    from vigil.log.status import StatusReader
    from vigil.log.tiledir import TileDir
    from vigil.web.log_app import create_app

    configure_logging()
    directory: Path = args.dir
    config = read_config(directory)
    signer = load_signer(directory / config.key_file)
    collector = _witness_collector(directory, config)
    # Looked up at call time so that tests can run a tampered provider.
    charter_log = charter_policy.CharterLog(
        TileDir(directory / config.tiles_dir, cache_bytes=1 << 20),
        evidence_dir=directory / "evidence",
        state_file=directory / "statusmap.json",
    )
    service = open_log_service(
        config=config,
        signer=signer,
        base_dir=directory,
        registry=charter_policy.charter_registry(),
        status_map=charter_log,
        gate=charter_log,
        collector=collector,
    )
    try:
        # With front ends, one listening socket each on the same port
        # (SO_REUSEPORT): the kernel spreads connections evenly, where one
        # shared socket lets whichever process wakes first take them all.
        sockets = [listen(args.host, args.port, reuse_port=args.workers > 0)]
        for _ in range(1, args.workers):
            sockets.append(listen(args.host, sockets[0].getsockname()[1], reuse_port=True))
    except ConfigError:
        service.stop()
        raise
    sock = sockets[0]
    # The server allocates many short-lived containers per request; with the
    # default thresholds the cyclic GC would run thousands of times a second
    # and rescan long-lived caches. Startup objects are frozen (never scanned).
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, 50, 100)
    if args.workers > 0:
        from vigil.log.maprelay import MapRelay

        maps = MapRelay(charter_log.snapshot, lambda: charter_log.charter_indexes)
        shown, port = shown_address(sock)
        return _serve_with_frontends(service, sockets, directory, shown, port, maps)
    run_uvicorn(create_app(service, StatusReader(service, charter_log)), sock, graceful_s=10)
    if collector is not None:
        collector.close()
    return 0


def _witness_collector(directory: Path, config: LogConfig) -> WitnessCollector | None:
    """The witness collector of ``[witnesses] policy_file``, or None without one."""
    settings = config.witnesses
    if not settings.policy_file:
        return None
    path = directory / settings.policy_file
    try:
        policy = parse_policy(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read witness policy ({exc})") from exc
    except FormatError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return WitnessCollector(
        policy=policy, timeout_s=settings.timeout_s, linger_s=settings.linger_s
    )


def _serve_with_frontends(
    service: LogService, sockets: list[socket.socket], directory: Path, host: str, port: int,
    maps: MapRelay,
) -> int:
    """The sequencer process: a front end on each socket, relay to them, stop on a signal."""
    import asyncio
    import signal
    import subprocess

    from vigil.log.frontend import SequencerLink
    from vigil.log.sequencer import Sequencer

    sequencer = service.sequencer
    assert isinstance(sequencer, Sequencer)
    link = SequencerLink(sequencer, maps)
    service.relay(link.on_publish, link.on_nodes)
    pairs = [socket.socketpair() for _ in sockets]
    processes = []
    for sock, (_, child) in zip(sockets, pairs, strict=True):
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "vigil", "log", "serve-frontend", str(directory),
             "--listen-fd", str(sock.fileno()), "--link-fd", str(child.fileno())],
            pass_fds=(sock.fileno(), child.fileno()),
        ))
        child.close()
        sock.close()  # only the front ends accept connections
    print(f"listening on http://{host}:{port}", flush=True)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        service.start(loop)
        tasks = [
            loop.create_task(link.serve([parent for parent, _ in pairs])),
            loop.create_task(stop.wait()),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            await asyncio.to_thread(_wait_or_kill, process)
        await asyncio.to_thread(service.stop)

    _run_loop(run())
    return 0


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop if installed (a faster event loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        import asyncio

        asyncio.run(main)
    else:
        uvloop.run(main)


def _wait_or_kill(process: Any) -> None:
    import subprocess

    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_serve_frontend(args: argparse.Namespace) -> int:
    """One front-end process of ``serve --workers N`` (see vigil.log.frontend)."""

    import uvicorn

    from vigil.log.charter_policy import charter_registry
    from vigil.log.maprelay import FrontendMaps
    from vigil.log.service import open_frontend_service
    from vigil.log.status import StatusReader
    from vigil.web.log_app import create_app

    configure_logging(logging.WARNING)
    directory: Path = args.dir
    config = read_config(directory)
    sock = socket.socket(fileno=args.listen_fd)
    link = socket.socket(fileno=args.link_fd)
    maps = FrontendMaps()
    service, remote = open_frontend_service(
        config=config, base_dir=directory, link=link, registry=charter_registry(),
        on_map=maps.apply,
    )
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, 50, 100)

    async def run() -> None:
        await remote.connect()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(service, StatusReader(service, maps)), log_level="warning",
                access_log=False, lifespan="on",
                timeout_graceful_shutdown=10, **UVICORN_OPTIONS,
            )
        )
        await server.serve(sockets=[sock])

    _run_loop(run())
    return 0


# -- client ------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> LogClient:
    vkey = args.log_key
    origin = args.origin
    if args.log_dir is not None:
        config = read_config(args.log_dir)
        vkey = vkey or config.public_key
        origin = origin or config.origin
    if not vkey:
        raise ConfigError("no log key: pass --log-key VKEY or --log-dir DIR (or VIGIL_LOG_KEY)")
    verifier = parse_verifier_key(vkey)
    return LogClient(args.url, origin=origin or verifier.name, log_key=verifier)


def _emit(document: dict[str, Any]) -> None:
    print(json.dumps(document, sort_keys=True))


def _entry_document(entry: VerifiedEntry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "leaf_hash": entry.leaf_hash.hex(),
        "signers": list(entry.signers),
        "tree_size": entry.checkpoint.checkpoint.size,
        "verified": True,
        "envelope": json.loads(entry.data),
    }


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc


def run_submit(args: argparse.Namespace) -> int:
    """Submit each file; print one verified receipt per line."""
    with _client(args) as client:
        for path in args.files:
            receipt = client.submit(_read_file(path))
            document: dict[str, Any] = {
                "file": str(path),
                "index": receipt.index,
                "leaf_hash": receipt.leaf_hash.hex(),
            }
            if receipt.checkpoint is None:
                document["status"] = "sequenced (not yet in a checkpoint)"
            else:
                document["status"] = "included"
                document["tree_size"] = receipt.checkpoint.checkpoint.size
            _emit(document)
    return 0


def run_get(args: argparse.Namespace) -> int:
    """Fetch, verify and print an entry."""
    with _client(args) as client:
        entry = client.get(args.index)
    if args.out is not None:
        args.out.write_bytes(entry.data)
    _emit(_entry_document(entry))
    return 0


def run_checkpoint(args: argparse.Namespace) -> int:
    """Fetch, verify and print (or save) the latest checkpoint."""
    with _client(args) as client:
        verified = client.checkpoint()
    note = verified.note.note
    from vigil.core.note import format_note

    data = format_note(note)
    if args.out is not None:
        args.out.write_bytes(data)
    sys.stdout.write(data.decode("utf-8"))
    return 0


def run_proof(args: argparse.Namespace) -> int:
    """Verify an inclusion proof (against the latest checkpoint) or consistency."""
    with _client(args) as client:
        if args.kind == "inclusion":
            if (args.leaf_hash is None) == (args.file is None):
                raise ConfigError("proof inclusion: give exactly one of --leaf-hash and --file")
            if args.file is not None:
                data = format_envelope(parse_envelope(_read_file(args.file)))
                leaf_hash = merkle.hash_leaf(data)
            else:
                try:
                    leaf_hash = bytes.fromhex(args.leaf_hash)
                except ValueError as exc:
                    raise ConfigError(f"--leaf-hash {args.leaf_hash!r}: not hex") from exc
            index, verified = client.prove_inclusion(leaf_hash)
            _emit({"index": index, "leaf_hash": leaf_hash.hex(),
                   "tree_size": verified.checkpoint.size, "verified": True})
        else:
            if args.old_checkpoint is None:
                raise ConfigError("proof consistency: --old-checkpoint FILE is required")
            old, new = client.prove_consistency(_read_file(args.old_checkpoint))
            _emit({"old": old.checkpoint.size, "new": new.checkpoint.size, "verified": True})
    return 0


def run_search(args: argparse.Namespace) -> int:
    """Print verified search results, one entry per line."""
    key_type, value = next(
        (name, getattr(args, name))
        for name in ("digest", "signer", "repository")
        if getattr(args, name) is not None
    )
    with _client(args) as client:
        token: str | None = None
        while True:
            entries, token = client.search(key_type, value, page_token=token, limit=args.limit)
            for entry in entries:
                _emit(_entry_document(entry))
            if token is None or not args.all:
                break
    if token is not None:
        _emit({"next_page_token": token})
    return 0
