"""Signature throughput: Vigil's note/cosignature verification vs raw PyNaCl.

Each row compares a Vigil operation with the raw libsodium work it must do
(``nacl.signing.VerifyKey.verify`` on the same messages), so the ratio is
Vigil's overhead: parsing, strictness checks and bookkeeping. Target: at most
1.5x slower than raw.

Run ``python bench/sig_bench.py``; ``bench_signatures()`` returns the rows.
Short runs (about 0.2 s per figure, best of 3) to share CPUs politely.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import nacl.signing

from vigil.core.checkpoint import Checkpoint, format_checkpoint, verify_checkpoint
from vigil.core.cosignature import cosigned_message, generate_cosigner
from vigil.core.note import (
    Note,
    format_note,
    generate_signer,
    parse_note,
    sign_note,
    verify_note,
)

__all__ = ["bench_signatures"]

Row = tuple[str, float, float, str]


def _rate(fn: Callable[[], object], *, seconds: float, repeats: int) -> float:
    """Best calls/s of ``fn`` over ``repeats`` runs of about ``seconds`` each."""
    fn()
    batch = 1
    while True:  # calibrate a batch that takes ~1/10 of the budget
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 10:
            break
        batch *= 2
    best = 0.0
    for _ in range(repeats):
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(batch):
                fn()
            count += batch
        best = max(best, count / elapsed)
    return best


def _pair(
    vigil: Callable[[], object], raw: Callable[[], object], seconds: float, repeats: int
) -> tuple[float, float]:
    # Interleave so both sides see the same machine load.
    vigil_rate = raw_rate = 0.0
    for _ in range(repeats):
        vigil_rate = max(vigil_rate, _rate(vigil, seconds=seconds, repeats=1))
        raw_rate = max(raw_rate, _rate(raw, seconds=seconds, repeats=1))
    return vigil_rate, raw_rate


def bench_signatures(*, seconds: float = 0.2, repeats: int = 3) -> list[Row]:
    """Measure signature figures.

    Args:
        seconds: Length of one timed run.
        repeats: Runs per figure; the best is kept.

    Returns:
        Rows ``(figure, vigil rate, raw PyNaCl rate, unit)``.
    """
    rows: list[Row] = []

    # A log key and two witnesses over a realistic checkpoint.
    log = generate_signer("log.example.org", bytes(range(32)))
    witnesses = [generate_cosigner(f"w{i}.example.org", bytes([i]) * 32) for i in (1, 2)]
    checkpoint = Checkpoint("log.example.org", 123456789, bytes(range(32)))
    text = format_checkpoint(checkpoint)
    text_bytes = text.encode()
    timestamp = 1767139200

    # 1. The Verifier alone: one Ed25519 verification.
    log_verifier = log.verifier()
    raw_log = nacl.signing.VerifyKey(log.public_key)
    log_sig = log.sign(text_bytes)
    vigil_rate, raw_rate = _pair(
        lambda: log_verifier.verify(text_bytes, log_sig),
        lambda: raw_log.verify(text_bytes, log_sig),
        seconds,
        repeats,
    )
    rows.append(("Ed25519Verifier.verify", vigil_rate, raw_rate, "verifies/s"))

    # 2. A whole note from bytes: parse, look up, verify one signature.
    note_bytes = sign_note(text, [log])
    verifiers = [log_verifier]
    vigil_rate, raw_rate = _pair(
        lambda: verify_note(note_bytes, verifiers),
        lambda: raw_log.verify(text_bytes, log_sig),
        seconds,
        repeats,
    )
    rows.append(("verify_note (bytes, 1 signature)", vigil_rate, raw_rate, "note verifies/s"))

    # 3. A cosignature: note with one cosignature/v1 line, from bytes.
    witness = witnesses[0]
    cosig = witness.sign_checkpoint(checkpoint, timestamp)
    cosig_note = format_note(Note(text, (cosig,)))
    cosig_verifiers = [witness.verifier()]
    raw_witness = nacl.signing.VerifyKey(witness.public_key)
    message = cosigned_message(text, timestamp)
    ed_sig = cosig.signature[8:]
    vigil_rate, raw_rate = _pair(
        lambda: verify_note(cosig_note, cosig_verifiers),
        lambda: raw_witness.verify(message, ed_sig),
        seconds,
        repeats,
    )
    rows.append(("verify_note (bytes, 1 cosignature)", vigil_rate, raw_rate, "cosig verifies/s"))

    # 4. A cosigned checkpoint: log signature + 2 cosignatures, parsed and checked.
    cosigs = tuple(w.sign_checkpoint(checkpoint, timestamp) for w in witnesses)
    full = format_note(Note(text, parse_note(note_bytes).signatures + cosigs))
    witness_verifiers = [w.verifier() for w in witnesses]
    raw_keys = [nacl.signing.VerifyKey(w.public_key) for w in witnesses]
    raw_sigs = [c.signature[8:] for c in cosigs]

    def raw_three() -> None:
        raw_log.verify(text_bytes, log_sig)
        for key, sig in zip(raw_keys, raw_sigs, strict=True):
            key.verify(message, sig)

    vigil_rate, raw_rate = _pair(
        lambda: verify_checkpoint(
            full, origin="log.example.org", log_verifier=log_verifier, cosigners=witness_verifiers
        ),
        raw_three,
        seconds,
        repeats,
    )
    rows.append(("verify_checkpoint (log + 2 cosigs)", vigil_rate, raw_rate, "checkpoints/s"))

    # 5. Signing a note vs raw signing.
    raw_signer = nacl.signing.SigningKey(bytes(range(32)))
    signers = [log]
    vigil_rate, raw_rate = _pair(
        lambda: sign_note(text, signers),
        lambda: raw_signer.sign(text_bytes),
        seconds,
        repeats,
    )
    rows.append(("sign_note (1 signer)", vigil_rate, raw_rate, "notes signed/s"))
    return rows


if __name__ == "__main__":
    print(f"{'figure':<38} {'vigil':>12} {'raw PyNaCl':>12}  ratio  unit")
    for name, vigil_rate, raw_rate, unit in bench_signatures():
        ratio = raw_rate / vigil_rate
        print(f"{name:<38} {vigil_rate:>12,.0f} {raw_rate:>12,.0f}  {ratio:4.2f}x  {unit}")
