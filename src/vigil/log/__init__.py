"""The Vigil log server: a durable, batched, tiled transparency log of signed statements.

Example (embedded, without HTTP)::

    >>> import pathlib, tempfile
    >>> from vigil.core.note import generate_signer
    >>> from vigil.log import LogConfig, open_log_service
    >>> key = generate_signer("log.example/test")
    >>> config = LogConfig(origin="log.example/test", public_key=key.vkey)
    >>> service = open_log_service(
    ...     config=config, signer=key, base_dir=pathlib.Path(tempfile.mkdtemp()))
    >>> service.published.size
    0
    >>> service.stop()

Entries are DSSE envelopes carrying in-toto Statement v1 (:mod:`vigil.log.entry`,
:mod:`vigil.log.kinds`); the :mod:`vigil.log.sequencer` commits them in
batches to :mod:`vigil.log.storage` (SQLite or PostgreSQL), integrates them
into c2sp.org/tlog-tiles tiles (:mod:`vigil.log.integrate`,
:mod:`vigil.log.tiledir`) and publishes signed checkpoints
(:mod:`vigil.log.signing`, with hooks for the status map and witnesses).
:class:`LogService` is what the HTTP front end (:mod:`vigil.web.log_app`)
calls; :class:`~vigil.log.client.LogClient` talks to it and verifies answers.
"""

from vigil.log.config import Limits, LogConfig, SequencerSettings
from vigil.log.service import LogService, open_log_service

__all__ = ["Limits", "LogConfig", "LogService", "SequencerSettings", "open_log_service"]
