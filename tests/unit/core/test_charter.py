"""The charter: strict TOML parsing with line numbers, signatures, chain rules."""

from __future__ import annotations

import hashlib

import pytest

from charterkit import CharterSpec, Repo, key, sign_charter
from vigil.core.charter import (
    CHARTER_PREDICATE_TYPE,
    MAX_CHARTER_BYTES,
    Role,
    charter_statement,
    check_genesis,
    check_successor,
    envelope_signers,
    parse_charter,
    parse_charter_statement,
    parse_signed_charter,
    verify_chain,
)
from vigil.core.cosignature import generate_cosigner
from vigil.core.dsse import add_signatures, sign_envelope
from vigil.core.intoto import PAYLOAD_TYPE_INTOTO, Subject, build_statement
from vigil.core.note import generate_signer
from vigil.errors import FormatError, PolicyError, RollbackError, ThresholdError

ALICE, BOB, CAROL, DAVE = (key(n) for n in ("alice", "bob", "carol", "dave"))
PUB1, PUB2 = key("obs1"), key("obs2")
RB1 = key("rb1")
SEC = key("security")
LOG = key("log.example.org/vigil")
W1 = generate_cosigner("w1.example", bytes(32))
W2 = generate_cosigner("w2.example", bytes([1]) * 32)


def spec(**changes: object) -> CharterSpec:
    values: dict[str, object] = {
        "foundation": [ALICE, BOB, CAROL],
        "threshold": 2,
        "repositories": [
            Repo("oss", [PUB1, PUB2], 2, rebuilders=[RB1], rebuilds_required=1, grace_s=3600)
        ],
        "security": [SEC],
        "logs": [LOG],
    }
    values.update(changes)
    return CharterSpec(**values)  # type: ignore[arg-type]


WITNESSES = f"""
[witnesses]
quorum = "both"

[[witnesses.witness]]
name = "w1"
key = "{W1.vkey}"
url = "https://w1.example/"
auditing = true

[[witnesses.witness]]
name = "w2"
key = "{W2.vkey}"

[[witnesses.group]]
name = "both"
threshold = "all"
members = ["w1", "w2"]
"""


# -- parsing -------------------------------------------------------------------------------


def test_parse_full_charter() -> None:
    text = spec(revoked=[(DAVE, 7)], extra=WITNESSES).text()
    charter = parse_charter(text)
    assert charter.raw == text
    assert charter.digest == hashlib.sha256(text).digest()
    assert (charter.name, charter.version, charter.previous) == ("example", 1, None)
    assert charter.foundation.threshold == 2
    assert charter.foundation.vkeys == (ALICE.vkey, BOB.vkey, CAROL.vkey)
    assert charter.logs[0].origin == LOG.name
    assert charter.witnesses.quorum == "both"
    assert [w.name for w in charter.witnesses.witnesses] == ["w1", "w2"]
    assert charter.witnesses.logs[0].verifier == LOG.verifier()
    assert charter.auditing_witnesses == {"w1"}
    assert charter.security is not None and charter.security.vkeys == (SEC.vkey,)
    oss = charter.repository("oss")
    assert (oss.format, oss.publishers.threshold, oss.rebuilds_required) == ("rpm-md", 2, 1)
    assert (oss.freshness_s, oss.stale, oss.grace_s) == (86400, "reject", 3600)
    assert oss.is_rebuilder(RB1.vkey) and not oss.is_rebuilder(PUB1.vkey)
    assert charter.revoked[0].key == DAVE.verifier() and charter.revoked[0].from_index == 7
    assert charter.revoked_from(DAVE.vkey) == 7
    assert charter.revoked_from(ALICE.vkey) is None
    with pytest.raises(PolicyError, match="does not name repository 'nope'"):
        charter.repository("nope")


def replace_line(text: bytes, old: str, new: str) -> bytes:
    assert old.encode() in text, old
    return text.replace(old.encode(), new.encode(), 1)


def line_of(text: bytes, fragment: str) -> int:
    return text.decode().split("\n").index(fragment) + 1


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("publisher_threshold = 2", "publisher_threshold = 3",
         r"repository 'oss' publisher_threshold\): got 3, want 1 to 2 \(the number of publisher"),
        ("publisher_threshold = 2", "publisher_threshold = true",
         r"publisher_threshold\): want an integer \(got boolean\)"),
        ('format = "rpm-md"', 'format = "rpm"', r"format\): got 'rpm', want one of rpm-md, deb"),
        ('stale = "reject"', 'stale = "ignore"', r"stale\): got 'ignore'"),
        ("freshness_s = 86400", "freshness_s = 0", r"freshness_s\): got 0, want 1 to"),
        ("rebuilds_required = 1", "rebuilds_required = 2",
         r"rebuilds_required\): got 2, want 0 to 1 \(the number of rebuilders\)"),
        ("grace_s = 3600", "grace_s = 3600\ncolour = 1", r"repository 'oss' colour\): unknown key"),
        ("threshold = 2", "threshold = 4", r"\[foundation\] threshold\): got 4, want 1 to 3"),
    ],
)
def test_field_errors_name_line_and_field(old: str, new: str, message: str) -> None:
    text = replace_line(spec().text(), old, new)
    with pytest.raises(FormatError, match=message) as info:
        parse_charter(text)
    first = new.split("\n")[-1] if "colour" in new else new
    assert f"charter line {line_of(text, first)} " in str(info.value)


def test_syntax_error_has_tomllib_position() -> None:
    text = replace_line(spec().text(), "version = 1", "version = = 1")
    with pytest.raises(FormatError, match=r"invalid TOML: .*line 4"):
        parse_charter(text)


def test_unknown_table_refused() -> None:
    text = spec(extra="[owners]\nfoo = 1\n").text()
    with pytest.raises(FormatError, match=r"charter line \d+ \(owners\): unknown key"):
        parse_charter(text)


def test_missing_sections_refused() -> None:
    with pytest.raises(FormatError, match=r"missing required table \[charter\]"):
        parse_charter(b"[foundation]\nthreshold = 1\nkeys = []\n")
    text = spec().text().replace(b"[foundation]", b"[foundationx]")
    with pytest.raises(FormatError, match=r"missing required table \[foundation\]"):
        parse_charter(text)


def test_key_listed_twice_under_two_names_counts_as_duplicate() -> None:
    alias = generate_signer("alice-again", seed=ALICE.seed)
    text = spec(foundation=[ALICE, BOB, alias]).text()
    with pytest.raises(FormatError, match=r"keys\[2\]\): key alice-again .* listed twice"):
        parse_charter(text)


def test_witness_key_cannot_be_a_publisher_and_vice_versa() -> None:
    text = replace_line(spec().text(), f'"{PUB2.vkey}"', f'"{W1.vkey}"')
    with pytest.raises(FormatError, match=r"publishers\[1\]\): key w1.example is not an Ed25519"):
        parse_charter(text)
    bad = WITNESSES.replace(W2.vkey, BOB.vkey)
    with pytest.raises(FormatError, match=r"must be a cosignature/v1 key"):
        parse_charter(spec(extra=bad).text())


def test_witness_quorum_must_be_defined() -> None:
    bad = WITNESSES.replace('quorum = "both"', 'quorum = "everyone"')
    with pytest.raises(FormatError, match=r"witness policy: .*everyone"):
        parse_charter(spec(extra=bad).text())


def test_version_and_previous_must_agree() -> None:
    with pytest.raises(FormatError, match="version 1 has no previous"):
        parse_charter(spec(previous=bytes(32)).text())
    with pytest.raises(FormatError, match="version 2 must name the sha256 of version 1"):
        parse_charter(spec(version=2).text())
    text = spec(version=2, previous=bytes(32)).text().replace(b"sha256:00", b"sha1:00")
    with pytest.raises(FormatError, match=r"previous\): .* is not sha256:"):
        parse_charter(text)


def test_repository_names_unique_and_well_formed() -> None:
    repos = [Repo("oss", [PUB1]), Repo("oss", [PUB2])]
    with pytest.raises(FormatError, match="repository 'oss' is listed twice"):
        parse_charter(spec(repositories=repos).text())
    with pytest.raises(FormatError, match="is not a valid name"):
        parse_charter(spec(repositories=[Repo("has space", [PUB1])]).text())


def test_log_origin_must_be_key_name() -> None:
    text = replace_line(spec().text(), f'origin = "{LOG.name}"', 'origin = "other.example"')
    with pytest.raises(FormatError, match="differs from the origin"):
        parse_charter(text)


def test_size_cap_and_encoding() -> None:
    with pytest.raises(FormatError, match=f"want at most {MAX_CHARTER_BYTES}"):
        parse_charter(spec().text() + b"#" * MAX_CHARTER_BYTES)
    with pytest.raises(FormatError, match="line 2: invalid UTF-8"):
        parse_charter(b"# ok\n\xff\n")
    with pytest.raises(FormatError, match="byte order mark"):
        parse_charter("\ufeff".encode() + spec().text())


# -- roles ---------------------------------------------------------------------------------


def test_role_counts_distinct_keys_only() -> None:
    role = Role((ALICE.verifier(), BOB.verifier(), CAROL.verifier()), 2)
    assert not role.evaluate([ALICE.vkey, ALICE.vkey]).met
    result = role.evaluate([ALICE.vkey, DAVE.vkey, BOB.vkey])
    assert result.met and len(result.signed) == 2
    assert "carol" in result.describe()
    with pytest.raises(FormatError, match="threshold 4 out of range"):
        Role((ALICE.verifier(),), 4)


# -- signatures and the chain --------------------------------------------------------------


def test_statement_round_trip_and_binding() -> None:
    charter = parse_charter(spec().text())
    statement = charter_statement(charter)
    assert statement.predicate_type == CHARTER_PREDICATE_TYPE
    assert parse_charter_statement(statement) == charter
    wrong = build_statement(
        [Subject("example v1", {"sha256": "00" * 32})],
        CHARTER_PREDICATE_TYPE,
        {"charter": charter.raw.decode()},
    )
    with pytest.raises(FormatError, match="does not match the charter it carries"):
        parse_charter_statement(wrong)
    extra = build_statement(
        statement.subjects, CHARTER_PREDICATE_TYPE, {"charter": charter.raw.decode(), "x": 1}
    )
    with pytest.raises(FormatError, match="predicate must be exactly"):
        parse_charter_statement(extra)


def test_signatures_collected_one_holder_at_a_time() -> None:
    text = spec().text()
    envelope = sign_charter(text, [ALICE])
    envelope = add_signatures(envelope, [CAROL])
    signed = parse_signed_charter(envelope)
    assert signed.signers == (ALICE.vkey, CAROL.vkey)
    assert verify_chain([signed]).charter.version == 1


def test_genesis_needs_own_threshold() -> None:
    charter = parse_charter(spec().text())
    with pytest.raises(ThresholdError, match=r"genesis\): its own foundation: 1 of 2"):
        check_genesis(charter, [ALICE.vkey])
    # A key signing twice counts once.
    envelope = add_signatures(sign_charter(charter.raw, [ALICE]), [ALICE])
    with pytest.raises(ThresholdError, match="1 of 2 required"):
        verify_chain([parse_signed_charter(envelope)])
    with pytest.raises(PolicyError, match="a chain starts at version 1"):
        check_genesis(parse_charter(spec(version=2, previous=bytes(32)).text()), [ALICE.vkey])


def test_forged_and_foreign_signatures_do_not_count() -> None:
    text = spec().text()
    envelope = sign_charter(text, [ALICE, BOB])
    other = sign_envelope(PAYLOAD_TYPE_INTOTO, b"{}", [BOB])
    forged = envelope.__class__(
        envelope.payload_type, envelope.payload, (envelope.signatures[0], other.signatures[0])
    )
    valid, invalid = envelope_signers(forged)
    assert valid == (ALICE.vkey,) and invalid == (BOB.vkey,)
    with pytest.raises(ThresholdError):
        verify_chain([parse_signed_charter(forged)])


class TestSuccessor:
    v1 = spec()
    v2 = v1.next(foundation=[ALICE, BOB, DAVE])  # carol leaves, dave joins

    def test_signed_by_both_foundations(self) -> None:
        old, new = parse_charter(self.v1.text()), parse_charter(self.v2.text())
        check_successor(old, new, [ALICE.vkey, BOB.vkey])
        check_successor(old, new, [CAROL.vkey, BOB.vkey, DAVE.vkey])

    def test_key_takeover_signed_only_by_new_foundation(self) -> None:
        mallory, eve = key("mallory"), key("eve")
        takeover = self.v1.next(foundation=[mallory, eve], threshold=2)
        old, new = parse_charter(self.v1.text()), parse_charter(takeover.text())
        with pytest.raises(ThresholdError, match=r"v2: foundation of v1 .* 0 of 2 required"):
            check_successor(old, new, [mallory.vkey, eve.vkey])

    def test_signed_only_by_old_foundation(self) -> None:
        old, new = parse_charter(self.v1.text()), parse_charter(self.v2.text())
        # carol (old only) and alice: old threshold met, new has only alice.
        with pytest.raises(ThresholdError, match=r"v2: its own foundation: 1 of 2"):
            check_successor(old, new, [CAROL.vkey, ALICE.vkey])

    def test_version_must_step_by_one(self) -> None:
        old = parse_charter(self.v1.text())
        v3 = CharterSpec(**{**self.v2.__dict__, "version": 3})
        with pytest.raises(PolicyError, match="versions step by one"):
            check_successor(old, parse_charter(v3.text()), [ALICE.vkey, BOB.vkey])
        with pytest.raises(RollbackError, match="not above the current version 1"):
            check_successor(old, old, [ALICE.vkey, BOB.vkey])

    def test_previous_digest_and_name(self) -> None:
        old = parse_charter(self.v1.text())
        wrong = CharterSpec(**{**self.v2.__dict__, "previous": bytes(32)})
        with pytest.raises(PolicyError, match="want sha256:"):
            check_successor(old, parse_charter(wrong.text()), [ALICE.vkey, BOB.vkey])
        renamed = CharterSpec(**{**self.v2.__dict__, "name": "other"})
        with pytest.raises(PolicyError, match="charter name differs"):
            check_successor(old, parse_charter(renamed.text()), [ALICE.vkey, BOB.vkey])

    def test_chain_from_trusted_and_from_genesis(self) -> None:
        e1 = parse_signed_charter(sign_charter(self.v1.text(), [ALICE, BOB]))
        e2 = parse_signed_charter(sign_charter(self.v2.text(), [ALICE, BOB]))
        assert verify_chain([e1, e2]).charter.version == 2
        verified = verify_chain([e2], trusted=e1.charter)
        assert [c.version for c in verified.chain] == [1, 2]
        with pytest.raises(PolicyError, match="starts at version 1"):
            verify_chain([e2])
