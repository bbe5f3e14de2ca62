"""Properties: whatever order submissions arrive in, the log's status roots are the replay's."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charterkit import (
    CharterSpec,
    Repo,
    Sim,
    advisory,
    artifact,
    key,
    rebuild,
    release,
    revocation,
    sign_charter,
    state_digest,
)
from charterlog import Log
from vigil.core.dsse import Envelope, format_envelope
from vigil.core.statusmap import Replayer, replay_root, status_root
from vigil.errors import FormatError, VerificationError

BOARD1, BOARD2 = key("board1"), key("board2")
P1, P2, P3 = key("p1"), key("p2"), key("p3")
RB1, RB2, SEC = key("rb1"), key("rb2"), key("sec")
V1 = CharterSpec(
    foundation=[BOARD1, BOARD2],
    threshold=2,
    repositories=[
        Repo("a", [P1, P2], 1, rebuilders=[RB1, RB2], rebuilds_required=1, grace_s=120),
        Repo("b", [P2, P3], 2, format="deb", rebuilders=[RB1]),
    ],
    security=[SEC],
)
V2 = V1.next(
    repositories=[
        Repo("a", [P1, P3], 1, rebuilders=[RB2], rebuilds_required=1, grace_s=0),
        Repo("b", [P2, P3], 1, format="deb", rebuilders=[RB1]),
        Repo("c", [P1], 1),
    ]
)

CANDIDATES: list[Envelope] = [
    sign_charter(V2.text(), [BOARD1, BOARD2]),
    sign_charter(V2.text(), [BOARD1]),  # below threshold
    *(release("a", v, [P1]) for v in (1, 2, 3)),
    release("a", 2, [P2], digest=state_digest("a", 2, "fork")),
    release("a", 3, [P3]),  # only valid after V2
    *(release("b", v, [P2, P3], format="deb") for v in (1, 2)),
    release("b", 3, [P3], format="deb"),  # valid only after V2
    release("c", 1, [P1]),
    rebuild("a", 1, [RB1]),
    rebuild("a", 2, [RB2], result="mismatch"),
    rebuild("a", 3, [RB1]),
    rebuild("b", 1, [RB1], result="failed"),
    advisory("a", "A-1", [SEC], version=1, fixed=3),
    advisory("a", "A-2", [SEC], version=2, action="warn"),
    advisory("a", "A-3", [SEC], version=2, action="withdraw", withdraws="A-2"),
    advisory("b", "B-1", [SEC], version=1),
    revocation(P2, [P2]),
    revocation(RB1, [BOARD1, BOARD2], from_index=0),
    artifact("x", [P2]),
    artifact("y", [RB1]),
]
GENESIS = sign_charter(V1.text(), [BOARD1, BOARD2])

# Orders of the candidates, not parser inputs: 1,000 of the 9! orders find what more
# would, so these don't take the parsers' 10,000 (VIGIL_FUZZ_EXAMPLES) in CI.
ORDERS = min(1000, int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "300")) // 3)
# Each of these runs a real sequencer.
SEQUENCED_ORDERS = min(60, ORDERS // 16 + 3)


@settings(max_examples=ORDERS, deadline=None)
@given(st.permutations(range(len(CANDIDATES))))
def test_any_order_replays_to_the_same_roots(order: list[int]) -> None:
    sim = Sim()
    sim.submit(GENESIS)
    roots = [sim.state.root()]
    for position in order:
        try:
            sim.submit(CANDIDATES[position])
        except (FormatError, VerificationError):
            continue
        roots.append(sim.state.root())
    replayer = Replayer()
    replayed = []
    for data in sim.entries:
        assert replayer.add(data) is None  # the log never holds a refused entry
        replayed.append(replayer.state.root())
    assert replayed == roots
    assert list(replayer.state.records()) == list(sim.state.records())


@settings(
    max_examples=SEQUENCED_ORDERS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.permutations(range(len(CANDIDATES))), st.integers(1, 4))
def test_the_log_signs_the_replayed_roots(order: list[int], batch: int) -> None:
    """Through the real sequencer: every checkpoint's status line is the replay's root."""
    with tempfile.TemporaryDirectory() as directory:
        log = Log(Path(directory))
        try:
            log.submit(GENESIS)
            for start in range(0, len(order), batch):
                group = [CANDIDATES[i] for i in order[start : start + batch]]
                entries = [log.service.admit(format_envelope(e)) for e in group]
                futures = log.service.sequencer.submit(entries)
                indexes = []
                for future in futures:
                    with contextlib.suppress(FormatError, VerificationError):
                        indexes.append(future.result(timeout=30))
                if indexes:
                    log.wait(max(indexes) + 1)
                stored = log.stored()
                checkpoint = log.service.published.checkpoint
                assert status_root(checkpoint) == replay_root(stored[: checkpoint.size])
        finally:
            log.stop()


@settings(max_examples=ORDERS, deadline=None)
@given(st.permutations(range(len(CANDIDATES))), st.integers(0, len(CANDIDATES)))
def test_saved_and_restored_state_judges_like_the_original(order: list[int], cut: int) -> None:
    """Save the state at any point, restore it, go on: same verdicts, same roots."""
    from vigil.core.statusmap import StatusMap

    original = Sim()
    original.submit(GENESIS)
    restored: Sim | None = None
    for step, position in enumerate(order):
        if step == cut:
            restored = Sim()
            restored.entries = list(original.entries)
            restored.state = StatusMap.restore_state(
                original.state.export_state(), lambda i: original.entries[i]
            )
            assert restored.state.root() == original.state.root()
        verdicts = []
        for sim in (original, restored):
            if sim is None:
                continue
            try:
                sim.submit(CANDIDATES[position])
                verdicts.append("ok")
            except (FormatError, VerificationError) as exc:
                verdicts.append(type(exc).__name__ + str(exc))
        assert len(set(verdicts)) == 1, verdicts
    if restored is not None:
        assert restored.state.root() == original.state.root()
        assert list(restored.state.records()) == list(original.state.records())


@settings(max_examples=int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "300")) // 5, deadline=None)
@given(st.data())
def test_a_damaged_saved_state_is_a_format_error(data: st.DataObject) -> None:
    import json

    from vigil.core.statusmap import StatusMap

    sim = Sim()
    sim.submit(GENESIS)
    for envelope in CANDIDATES[2:6]:
        with contextlib.suppress(FormatError, VerificationError):
            sim.submit(envelope)
    document = json.loads(sim.state.export_state())
    key_name = data.draw(st.sampled_from(sorted(document)))
    document[key_name] = data.draw(st.one_of(
        st.none(), st.integers(-5, 10**6), st.text(max_size=5),
        st.lists(st.one_of(st.integers(-2, 9), st.text(max_size=3),
                           st.lists(st.integers(-1, 5), max_size=3)), max_size=3),
    ))
    with contextlib.suppress(FormatError, VerificationError):
        StatusMap.restore_state(json.dumps(document).encode(), lambda i: sim.entries[i])
