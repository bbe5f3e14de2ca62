"""Log configuration: strict parsing, faithful round trip."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vigil.errors import ConfigError
from vigil.log.config import Limits, LogConfig, format_config, parse_config, with_sequencer
from vigil.log.errors import PushbackError, SequencerLockedError, TooLargeError
from vigil.web.errors import error_response

BASE = LogConfig(origin="log.example/a", public_key="log.example/a+00000000+AQ==")


def test_round_trip() -> None:
    config = with_sequencer(
        replace(BASE, database="postgresql://u@h/db", limits=Limits(max_signatures=3)),
        batch_linger_s=0.0,
        heartbeat_interval_s=5.5,
    )
    assert parse_config(format_config(config)) == config
    assert parse_config(format_config(BASE)) == BASE


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda t: t.replace("[limits]", "[limit]"), "unknown section"),
        (lambda t: t.replace("max_signatures = 8", "max_signaturez = 8"), "unknown key"),
        (lambda t: t.replace("max_signatures = 8", "max_signatures = 0"), "from 1 to 64"),
        (lambda t: t.replace("max_signatures = 8", 'max_signatures = "8"'), "an integer"),
        (lambda t: t.replace("checkpoint_interval_s = 0.1", "checkpoint_interval_s = 2.0"),
         "from 0.0 to 1.0"),
        (lambda t: t.replace('origin = "log.example/a"', 'origin = "a b"'), "without spaces"),
        (lambda t: t.replace('database = "sqlite:log.db"', 'database = "mysql://x"'),
         "neither sqlite"),
        (lambda t: t + "\n[[broken", "invalid TOML"),
        (lambda t: t.replace("[log]", "[logs]"), r"missing section \[log\]"),
    ],
)
def test_bad_configs_are_refused(mutate, fragment) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=fragment):
        parse_config(mutate(format_config(BASE)))


def test_error_mapping_is_stable() -> None:
    assert error_response(TooLargeError("x")).status == 413
    pushback = error_response(PushbackError("busy", retry_after_s=3))
    assert (pushback.status, pushback.code, pushback.retry_after_s) == (503, "pushback", 3)
    locked = error_response(SequencerLockedError("locked", holder="pid 1"))
    assert (locked.status, locked.code) == (503, "unavailable")
    internal = error_response(KeyError("secret"))
    assert internal.status == 500 and "secret" not in internal.message
