"""Unit tests for vigil.core.policy (c2sp.org/tlog-policy)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.cosignature import CosignatureSigner, generate_cosigner
from vigil.core.note import (
    Ed25519Signer,
    Note,
    Signature,
    VerifiedSignature,
    format_note,
    generate_signer,
    key_hash,
)
from vigil.core.policy import (
    QUORUM_NONE,
    Policy,
    PolicyGroup,
    PolicyLog,
    PolicyWitness,
    evaluate_quorum,
    format_policy,
    parse_policy,
    verify_policy_checkpoint,
    verify_quorum,
)
from vigil.errors import (
    FormatError,
    PolicyError,
    SignatureError,
    UnsupportedError,
    VerificationError,
)

LOG = generate_signer("example.com/log", bytes([100]) * 32)


def cosigner(name: str, seed_byte: int) -> CosignatureSigner:
    return generate_cosigner(name, bytes([seed_byte]) * 32)


W = {
    name: cosigner(f"{name.lower()}.witness.example", i + 1)
    for i, name in enumerate(["X1", "X2", "X3", "Y1", "Y2", "Y3"])
}


def spec_example() -> str:
    """The spec's "Example policy", with real keys in place of <vkey>."""
    return (
        f"log {LOG.vkey}\n"
        "\n"
        f"witness X1 {W['X1'].vkey}\n"
        f"witness X2 {W['X2'].vkey}\n"
        f"witness X3 {W['X3'].vkey}\n"
        "group X-witnesses 2 X1 X2 X3\n"
        "\n"
        f"witness Y1 {W['Y1'].vkey}\n"
        f"witness Y2 {W['Y2'].vkey}\n"
        f"witness Y3 {W['Y3'].vkey}\n"
        "group Y-witnesses any Y1 Y2 Y3\n"
        "\n"
        "group X-and-Y all X-witnesses Y-witnesses\n"
        "quorum X-and-Y\n"
    )


def cosigned_by(*names: str) -> list[VerifiedSignature]:
    """Verified-signature records as verify_note would produce for these witnesses."""
    return [VerifiedSignature(W[n].name, W[n].key_hash, b"\x00" * 72, 1700000000) for n in names]


# Parsing -------------------------------------------------------------------------------


def test_spec_example_parses() -> None:
    policy = parse_policy(spec_example().encode())
    assert [log.origin for log in policy.logs] == ["example.com/log"]
    assert policy.logs[0].verifier == LOG.verifier()
    assert [w.name for w in policy.witnesses] == ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    assert policy.witnesses[0].verifier == W["X1"].verifier()
    assert policy.groups == (
        PolicyGroup("X-witnesses", 2, ("X1", "X2", "X3")),
        PolicyGroup("Y-witnesses", "any", ("Y1", "Y2", "Y3")),
        PolicyGroup("X-and-Y", "all", ("X-witnesses", "Y-witnesses")),
    )
    assert [g.k for g in policy.groups] == [2, 1, 2]
    assert policy.quorum == "X-and-Y"


@pytest.mark.parametrize(
    ("witnessed", "met"),
    [
        # "at least two of the X-witnesses, and at least one of the Y-witnesses"
        (("X1", "X2", "Y1"), True),
        (("X2", "X3", "Y3"), True),
        (("X1", "X2", "X3", "Y1", "Y2", "Y3"), True),
        (("X1", "Y1", "Y2", "Y3"), False),
        (("X1", "X2", "X3"), False),
        ((), False),
    ],
)
def test_spec_example_quorum(witnessed: tuple[str, ...], met: bool) -> None:
    policy = parse_policy(spec_example())
    result = evaluate_quorum(policy, cosigned_by(*witnessed))
    assert result.met is met
    assert result.cosigned == tuple(n for n in W if n in witnessed)
    assert result.missing == tuple(n for n in W if n not in witnessed)


def test_result_groups_and_message() -> None:
    policy = parse_policy(spec_example())
    result = evaluate_quorum(policy, cosigned_by("X1", "Y2"))
    assert result.satisfied_groups == ("Y-witnesses",)
    assert result.unsatisfied_groups == ("X-witnesses (1 of 2 needed)", "X-and-Y (1 of 2 needed)")
    with pytest.raises(PolicyError) as info:
        verify_quorum(policy, cosigned_by("X1", "Y2"))
    message = str(info.value)
    assert "quorum 'X-and-Y' not met" in message
    assert "X-witnesses (1 of 2 needed)" in message
    assert "cosigned: X1, Y2" in message
    assert "not cosigned: X2, X3, Y1, Y3" in message
    assert verify_quorum(policy, cosigned_by("X1", "X3", "Y2")).met


def test_comments_whitespace_and_tabs() -> None:
    text = (
        "# a comment\n"
        "   # an indented comment\n"
        " \t \n"
        f"\tlog  {LOG.vkey} \t https://log.example/\t\n"
        f"witness\tA\t{W['X1'].vkey}   https://a.example/add-checkpoint\n"
        "  quorum   A  \n"
    )
    policy = parse_policy(text)
    assert policy.logs[0].url == "https://log.example/"
    assert policy.witnesses[0].url == "https://a.example/add-checkpoint"
    assert policy.quorum == "A"


def test_quorum_none_and_no_logs() -> None:
    policy = parse_policy("quorum none\n")
    assert policy.logs == () and policy.witnesses == ()
    assert policy.quorum == QUORUM_NONE
    assert evaluate_quorum(policy, []).met


def test_single_witness_quorum() -> None:
    policy = parse_policy(f"witness A {W['X1'].vkey}\nquorum A\n")
    assert evaluate_quorum(policy, cosigned_by("X1")).met
    assert not evaluate_quorum(policy, cosigned_by("X2")).met


def test_missing_final_newline_is_accepted() -> None:
    assert parse_policy("quorum none").quorum == "none"


def test_non_ascii_names_are_opaque() -> None:
    # "K" and the Kelvin sign (U+212A) are different names.
    text = (
        f"witness K {W['X1'].vkey}\nwitness \u212a {W['X2'].vkey}\ngroup g 2 K \u212a\nquorum g\n"
    )
    policy = parse_policy(text.encode())
    assert [w.name for w in policy.witnesses] == ["K", "\u212a"]


def _vkey_of_type(name: str, alg: int, public_key: bytes) -> str:
    key = bytes([alg]) + public_key
    return f"{name}+{key_hash(name, key).hex()}+{base64.b64encode(key).decode()}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no quorum line"),
        ("# only a comment\n", "no quorum line"),
        ("quorum none\nquorum none\n", "policy line 2: second quorum line"),
        ("quorum\n", "policy line 1: 'quorum' takes one name (got 0 items)"),
        ("quorum a b\n", "'quorum' takes one name (got 2 items)"),
        ("quorum A\n", "policy line 1: policy quorum: 'A' is not a witness or group"),
        ("Quorum none\n", "policy line 1: unknown keyword 'Quorum'"),
        ("quorum none\r\n", "policy line 1: control character U+000D"),
        ("quorum none\n\x00\n", "policy line 2: control character U+0000"),
        ("quorum\x0bnone\n", "control character U+000B"),
        ("quorum none\x7f\n", "control character U+007F"),
        ("# ok\nlog\n", "policy line 2: 'log' takes a vkey"),
        ("log a b c\n", "'log' takes a vkey and an optional URL (got 3 items)"),
        ("log not-a-vkey\n", "policy line 1: log key"),
        ("witness A\n", "'witness' takes a name, a vkey"),
        ("witness A x+00000000+AA== u extra\n", "(got 4 items)"),
        ("witness A not-a-vkey\n", "witness A key"),
        ("group g any\n", "'group' takes a name, all|any|k and at least one member"),
        ("quorum none\nfoo bar\n", "policy line 2: unknown keyword 'foo'"),
    ],
)
def test_syntax_errors(text: str, fragment: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_policy(text)
    assert fragment in str(info.value)


def _witnesses(*names: str) -> str:
    return "".join(f"witness {n} {W[n].vkey}\n" for n in names)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        # Groups: names, thresholds, members.
        ("group g 0 X1\n", "threshold 0 is out of range (want 1 <= k <= 1"),
        ("group g 2 X1\n", "threshold 2 is out of range"),
        ("group g 02 X1 X2\n", "not a canonical decimal"),
        ("group g -1 X1\n", "not a decimal number"),
        ("group g +1 X1\n", "not a decimal number"),
        ("group g two X1\n", "not a decimal number"),
        ("group g ALL X1\n", "not a decimal number"),
        ("group g 99999999999 X1\n", "exceeds"),
        ("group g any X1 X1\n", "member 'X1' listed twice"),
        ("group g any Y9\n", "member 'Y9': not defined on a preceding line"),
        ("group g any none\n", "'none' cannot be a group member"),
        ("group g any X1\ngroup h any X1 X2\n", "already a member of another group"),
        ("group g any g\n", "member 'g': not defined"),
        ("group X1 any X2\n", "'X1': name already defined"),
        ("group none any X1\n", "the name 'none' is predefined"),
        ("group g any X1\ngroup g any X2\n", "'g': name already defined"),
    ],
)
def test_group_errors(body: str, fragment: str) -> None:
    text = _witnesses("X1", "X2") + body + "quorum none\n"
    with pytest.raises(FormatError) as info:
        parse_policy(text)
    assert fragment in str(info.value)
    assert str(info.value).startswith("policy line ")


def test_group_may_only_reference_preceding_lines() -> None:
    text = f"group g any A\nwitness A {W['X1'].vkey}\nquorum g\n"
    with pytest.raises(FormatError, match=r"policy line 1: .*not defined on a preceding line"):
        parse_policy(text)
    text = f"quorum A\nwitness A {W['X1'].vkey}\n"
    with pytest.raises(FormatError, match=r"policy line 1: .*not a witness or group defined"):
        parse_policy(text)


def test_lines_after_quorum_are_allowed() -> None:
    policy = parse_policy(f"witness A {W['X1'].vkey}\nquorum A\nlog {LOG.vkey}\n")
    assert len(policy.logs) == 1


def test_duplicate_keys() -> None:
    same_log_key = generate_signer("other.example/log", bytes([100]) * 32)
    with pytest.raises(FormatError, match=r"policy line 2: policy log other.example/log: dup"):
        parse_policy(f"log {LOG.vkey}\nlog {same_log_key.vkey}\nquorum none\n")
    with pytest.raises(FormatError, match="duplicate public key"):
        parse_policy(f"log {LOG.vkey}\nlog {LOG.vkey}\nquorum none\n")
    same_witness_key = cosigner("renamed.example", 1)  # X1's seed
    with pytest.raises(FormatError, match="policy line 2: policy witness B: duplicate public key"):
        parse_policy(f"witness A {W['X1'].vkey}\nwitness B {same_witness_key.vkey}\nquorum none\n")
    with pytest.raises(FormatError, match="'A': name already defined"):
        parse_policy(f"witness A {W['X1'].vkey}\nwitness A {W['X2'].vkey}\nquorum none\n")
    with pytest.raises(FormatError, match="'none' is predefined"):
        parse_policy(f"witness none {W['X1'].vkey}\nquorum none\n")


def test_same_key_as_log_and_witness_is_allowed() -> None:
    # Different roles, different key IDs (type 0x01 vs 0x04): not duplicates.
    witness = generate_cosigner("example.com/log", bytes([100]) * 32)
    policy = parse_policy(f"log {LOG.vkey}\nwitness A {witness.vkey}\nquorum A\n")
    assert policy.logs[0].verifier.public_key == policy.witnesses[0].verifier.public_key


def test_key_types_must_fit_the_role() -> None:
    with pytest.raises(FormatError, match=r"log key .* signature type 0x04"):
        parse_policy(f"log {W['X1'].vkey}\nquorum none\n")
    with pytest.raises(FormatError, match="witness A key has signature type 0x01"):
        parse_policy(f"witness A {LOG.vkey}\nquorum none\n")
    mldsa = _vkey_of_type("pq.example", 0x06, b"\x01" * 1312)
    with pytest.raises(UnsupportedError, match=r"policy line 1: .*0x06"):
        parse_policy(f"witness A {mldsa}\nquorum none\n")


def test_bad_vkey_key_id() -> None:
    good = W["X1"].vkey
    name, key_id, key = good.split("+")
    bad = f"{name}+{'0' * 8 if key_id != '0' * 8 else '1' * 8}+{key}"
    with pytest.raises(FormatError, match=r"policy line 1: .*key ID does not match"):
        parse_policy(f"witness A {bad}\nquorum none\n")


def test_encoding_and_size() -> None:
    with pytest.raises(FormatError, match=r"policy line 2: invalid UTF-8"):
        parse_policy(b"# ok\n# \xff\nquorum none\n")
    with pytest.raises(FormatError, match="surrogate"):
        parse_policy("quorum none # \ud800")
    with pytest.raises(FormatError, match="exceeds the limit"):
        parse_policy(b"quorum none\n", max_bytes=5)
    with pytest.raises(TypeError):
        parse_policy(5)  # type: ignore[arg-type]


# Formatting ----------------------------------------------------------------------------


def test_format_canonical_and_round_trip() -> None:
    policy = parse_policy(spec_example())
    text = format_policy(policy)
    assert text == (
        f"log {LOG.vkey}\n"
        + "".join(f"witness {n} {W[n].vkey}\n" for n in W)
        + "group X-witnesses 2 X1 X2 X3\n"
        "group Y-witnesses any Y1 Y2 Y3\n"
        "group X-and-Y all X-witnesses Y-witnesses\n"
        "quorum X-and-Y\n"
    )
    assert parse_policy(text) == policy
    assert format_policy(parse_policy(text)) == text


def test_format_with_urls() -> None:
    text = f"log {LOG.vkey} https://log.example/\nwitness A {W['X1'].vkey} https://w/\nquorum A\n"
    assert format_policy(parse_policy(text)) == text


# Model invariants ----------------------------------------------------------------------


def test_model_invariants() -> None:
    x1 = PolicyWitness("X1", W["X1"].verifier())
    with pytest.raises(FormatError, match="no members"):
        PolicyGroup("g", "any", ())
    with pytest.raises(FormatError, match="not 'all', 'any' or a number"):
        PolicyGroup("g", "most", ("X1",))  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="threshold must be"):
        PolicyGroup("g", True, ("X1",))
    with pytest.raises(FormatError, match="no whitespace"):
        PolicyWitness("a b", W["X1"].verifier())
    with pytest.raises(FormatError, match="type 0x04"):
        PolicyWitness("a", LOG.verifier())  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="type 0x01"):
        PolicyLog(W["X1"].verifier())  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="not a witness or group"):
        Policy((), (x1,), (), "X2")
    with pytest.raises(FormatError, match="not defined"):
        Policy((), (x1,), (PolicyGroup("g", "any", ("h",)),), "g")
    with pytest.raises(TypeError):
        Policy((), [x1], (), "X1")  # type: ignore[arg-type]
    assert Policy((), (x1,), (), "X1").quorum == "X1"


# Evaluation details --------------------------------------------------------------------


def test_evaluation_ignores_other_keys() -> None:
    policy = parse_policy(spec_example())
    log_signature = VerifiedSignature(LOG.name, LOG.key_hash, b"\x00" * 64, None)
    stranger = cosigner("stranger.example", 77)
    impostor = cosigner(W["X3"].name, 78)  # a witness's key name, another key
    records = [
        log_signature,
        VerifiedSignature(stranger.name, stranger.key_hash, b"", 1),
        VerifiedSignature(impostor.name, impostor.key_hash, b"", 1),
        *cosigned_by("X1", "Y1"),
    ]
    result = evaluate_quorum(policy, records)
    assert not result.met
    assert result.cosigned == ("X1", "Y1")


def test_duplicate_cosignatures_count_once() -> None:
    policy = parse_policy(spec_example())
    assert not evaluate_quorum(policy, cosigned_by("X1", "X1", "Y1")).met


def test_nested_numeric_threshold() -> None:
    text = _witnesses("X1", "X2", "X3", "Y1") + ("group a any X1 X2\ngroup b 2 a X3 Y1\nquorum b\n")
    policy = parse_policy(text)
    assert evaluate_quorum(policy, cosigned_by("X2", "Y1")).met
    assert evaluate_quorum(policy, cosigned_by("X3", "Y1")).met
    assert not evaluate_quorum(policy, cosigned_by("X1", "X2")).met


# Whole-checkpoint verification -----------------------------------------------------------


def checkpoint_note(
    log: Ed25519Signer, witnesses: list[CosignatureSigner], *, origin: str | None = None
) -> bytes:
    checkpoint = Checkpoint(origin or log.name, 5, hashlib.sha256(b"root").digest())
    text = format_checkpoint(checkpoint)
    signatures = [Signature(log.name, log.key_hash, log.sign(text.encode()))]
    signatures += [w.sign_checkpoint(text, 1700000000 + i) for i, w in enumerate(witnesses)]
    return format_note(Note(text, tuple(signatures)))


def test_verify_policy_checkpoint() -> None:
    policy = parse_policy(spec_example())
    note = checkpoint_note(LOG, [W["X1"], W["X3"], W["Y2"]])
    verified = verify_policy_checkpoint(policy, note)
    assert verified.checkpoint.size == 5
    assert [c.timestamp for c in verified.cosignatures] == [1700000000, 1700000001, 1700000002]
    assert verify_policy_checkpoint(policy, note, origin="example.com/log") == verified


def test_verify_policy_checkpoint_quorum_not_met() -> None:
    policy = parse_policy(spec_example())
    note = checkpoint_note(LOG, [W["X1"], W["Y2"]])
    with pytest.raises(PolicyError, match="X-witnesses \\(1 of 2 needed\\)"):
        verify_policy_checkpoint(policy, note)


def test_verify_policy_checkpoint_unknown_log() -> None:
    policy = parse_policy(spec_example())
    other = generate_signer("example.com/log", bytes([101]) * 32)
    note = checkpoint_note(other, [W["X1"], W["X2"], W["Y1"]])
    with pytest.raises(SignatureError, match="not signed by any log of the policy"):
        verify_policy_checkpoint(policy, note)
    with pytest.raises(SignatureError, match=r"with origin 'elsewhere'.*no such log"):
        verify_policy_checkpoint(policy, checkpoint_note(LOG, []), origin="elsewhere")


def test_verify_policy_checkpoint_wrong_origin() -> None:
    # Signed by the policy's log key, but for another origin line.
    policy = parse_policy(spec_example())
    note = checkpoint_note(LOG, [W["X1"], W["X2"], W["Y1"]], origin="example.com/other")
    with pytest.raises(VerificationError, match="wrong origin"):
        verify_policy_checkpoint(policy, note)


def test_verify_policy_checkpoint_bad_cosignature() -> None:
    policy = parse_policy(spec_example())
    note = checkpoint_note(LOG, [W["X1"], W["X2"], W["Y1"]])
    # Flip one bit in the last cosignature line.
    lines = note.split(b"\n")
    name, sig = lines[-2].rsplit(b" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    lines[-2] = name + b" " + base64.b64encode(bytes(raw))
    with pytest.raises(SignatureError):
        verify_policy_checkpoint(policy, b"\n".join(lines))


def test_verify_policy_checkpoint_malformed() -> None:
    policy = parse_policy(spec_example())
    with pytest.raises(FormatError):
        verify_policy_checkpoint(policy, b"not a note")
