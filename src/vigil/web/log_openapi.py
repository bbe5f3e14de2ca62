"""The OpenAPI 3 document of the log server (served at ``/openapi.json``).

Hand-written so that it says exactly what :mod:`vigil.web.log_app` does:
every endpoint, parameter, status code and response shape, with the limits
of the running configuration filled in. ``tests/log/test_log_http.py``
checks every live response against it.
"""

from __future__ import annotations

from typing import Any

from vigil import __version__
from vigil.log.config import LogConfig

__all__ = ["openapi_document"]

_DECIMAL = r"^(0|[1-9][0-9]{0,18})$"
_HEX_HASH = r"^[0-9a-f]{64}$"
_BASE64 = r"^[A-Za-z0-9+/]*={0,2}$"
_WIDTH = r"(\.p/([1-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5]))?"
_TILE_INDEX = r"(x[0-9]{3}/)*[0-9]{3}"
_TILE_PATH = rf"^((0|[1-9]|[1-5][0-9]|6[0-3])|entries)/{_TILE_INDEX}{_WIDTH}$"
_VKEY = r"^[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+={0,2}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Malformed request (code `malformed`).",
        403: "A signature does not verify (code `bad-signature`).",
        404: "No such entry, tile or tree size (code `not-found`).",
        413: "Body, entry or batch too large (code `too-large`).",
        422: "Statement refused: unknown kind (`unknown-kind`), invalid "
        "statement (`bad-statement`), or refused by the charter in force (`rejected`: "
        "a signer without the role, a revoked key, a downgrade, a duplicate, a reference "
        "to no release in force, a changed package without its owner's signature or the "
        "janitor quorum, a delta release with nothing to apply to, an owners "
        "authorisation without the janitor quorum or with an old counter; the message "
        "says which).",
        503: "Overloaded or not sequencing (code `pushback`); see Retry-After.",
    }
    responses: dict[str, Any] = {}
    for status in statuses:
        response = _json(_ref("Error"), text[status])
        if status == 503:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            }
        responses[str(status)] = response
    return responses


def _query(name: str, description: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


def _path(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", **schema},
    }


def _schemas(config: LogConfig) -> dict[str, Any]:
    integer = {"type": "integer", "minimum": 0}
    leaf_hash = {"type": "string", "pattern": _HEX_HASH, "description": "Leaf hash, hex."}
    b64 = {"type": "string", "pattern": _BASE64}
    proof = {
        "type": "array",
        "items": {**b64, "description": "32-byte hash, base64"},
        "description": "RFC 9162 proof hashes, base64, from the leaf up.",
    }
    checkpoint = {
        "type": "string",
        "description": "The signed checkpoint note (c2sp.org/tlog-checkpoint) the proofs "
        "refer to.",
    }
    entry_ref = {
        "type": "object",
        "required": ["index", "leaf_hash"],
        "properties": {"index": integer, "leaf_hash": leaf_hash},
        "additionalProperties": False,
    }
    entry_proven = {
        "type": "object",
        "required": ["index", "leaf_hash", "inclusion_proof"],
        "properties": {"index": integer, "leaf_hash": leaf_hash, "inclusion_proof": proof},
        "additionalProperties": False,
    }
    stored_entry: dict[str, Any] = {
        "type": "object",
        "required": ["index", "leaf_hash", "entry", "inclusion_proof"],
        "properties": {
            "index": integer,
            "leaf_hash": leaf_hash,
            "entry": {**b64, "description": "The entry bytes (canonical DSSE JSON), base64."},
            "inclusion_proof": proof,
        },
        "additionalProperties": False,
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {
                    "type": "string",
                    "enum": [
                        "malformed", "bad-signature", "not-found", "too-large",
                        "bad-statement", "unknown-kind", "rejected", "pushback",
                        "unavailable", "internal", "method-not-allowed",
                    ],
                },
                "message": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "Envelope": {
            "type": "object",
            "description": "A DSSE envelope carrying an in-toto Statement v1; every "
            "signature's keyid is the signer's verifier key name+hex8+base64.",
            "required": ["payload", "payloadType", "signatures"],
            "properties": {
                "payload": b64,
                "payloadType": {"type": "string", "enum": ["application/vnd.in-toto+json"]},
                "signatures": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": config.limits.max_signatures,
                    "items": {
                        "type": "object",
                        "required": ["keyid", "sig"],
                        "properties": {
                            "keyid": {
                                "type": "string",
                                "pattern": _VKEY,
                                "description": "The signer's verifier key name+hex8+base64.",
                            },
                            "sig": b64,
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
        "Batch": {
            "type": "object",
            "required": ["entries"],
            "properties": {
                "entries": {
                    "type": "array",
                    "minItems": 1,
                    "items": _ref("Envelope"),
                    # No maxItems: more than the limit is answered 413 (too large),
                    # which schema-driven tools would not count as a rejection.
                    "description": f"1 to {config.limits.max_batch_entries} envelopes; "
                    "more is refused with 413.",
                }
            },
            "additionalProperties": False,
        },
        "Submitted": {
            "type": "object",
            "required": ["index", "leaf_hash", "inclusion_proof", "tree_size", "checkpoint"],
            "properties": {
                "index": integer,
                "leaf_hash": leaf_hash,
                "inclusion_proof": proof,
                "tree_size": integer,
                "checkpoint": checkpoint,
            },
            "additionalProperties": False,
        },
        "Accepted": entry_ref,
        "BatchSubmitted": {
            "type": "object",
            "required": ["entries", "tree_size", "checkpoint"],
            "properties": {
                "entries": {"type": "array", "items": entry_proven},
                "tree_size": integer,
                "checkpoint": checkpoint,
            },
            "additionalProperties": False,
        },
        "BatchAccepted": {
            "type": "object",
            "required": ["entries"],
            "properties": {"entries": {"type": "array", "items": entry_ref}},
            "additionalProperties": False,
        },
        "Entry": {
            **stored_entry,
            "required": [*stored_entry["required"], "tree_size", "checkpoint"],
            "properties": {
                **stored_entry["properties"],
                "tree_size": integer,
                "checkpoint": checkpoint,
            },
        },
        "InclusionProof": {
            "type": "object",
            "required": ["index", "leaf_hash", "tree_size", "inclusion_proof"],
            "properties": {
                "index": integer,
                "leaf_hash": leaf_hash,
                "tree_size": integer,
                "inclusion_proof": proof,
                "checkpoint": {
                    **checkpoint,
                    "description": "Present when tree_size is the latest checkpoint's.",
                },
            },
            "additionalProperties": False,
        },
        "ConsistencyProof": {
            "type": "object",
            "required": ["old", "new", "proof"],
            "properties": {
                "old": integer,
                "new": integer,
                "proof": proof,
                "checkpoint": {
                    **checkpoint,
                    "description": "Present when new is the latest checkpoint's size.",
                },
            },
            "additionalProperties": False,
        },
        "MapRecordProof": {
            "type": "object",
            "required": ["index", "size", "record", "proof"],
            "properties": {
                "index": {**integer, "description": "The record's position in name order."},
                "size": {**integer, "description": "The number of records in the map."},
                "record": {**b64, "description": "The record's canonical JSON, base64."},
                "proof": {**proof, "description": "Inclusion proof in the map tree."},
            },
            "additionalProperties": False,
        },
        "MapAbsenceProof": {
            "type": "object",
            "description": "The neighbouring records of a name the map does not hold (null "
            "at either end).",
            "required": ["size", "left", "right"],
            "properties": {
                "size": integer,
                "left": {**_ref("MapRecordProof"), "nullable": True},
                "right": {**_ref("MapRecordProof"), "nullable": True},
            },
            "additionalProperties": False,
        },
        "Status": {
            "type": "object",
            "required": ["repository", "tree_size", "checkpoint", "entries"],
            "properties": {
                "repository": {"type": "string"},
                "tree_size": integer,
                "checkpoint": {
                    **checkpoint,
                    "description": "The checkpoint; its vigil-status-map line is the map "
                    "root the map proof leads to.",
                },
                "record": _ref("MapRecordProof"),
                "absence": {
                    **_ref("MapAbsenceProof"),
                    "description": "Present instead of record when the map has none.",
                },
                "entries": {
                    "type": "array",
                    "items": stored_entry,
                    "description": "The entries the record names, each with its inclusion "
                    "proof in the checkpoint's tree.",
                },
            },
            "additionalProperties": False,
        },
        "Bundle": {
            "type": "object",
            "description": "A verification bundle (vigil.core.bundle): everything a client "
            "checks for one repository.",
            "required": [
                "vigil_bundle", "repository", "checkpoint", "status", "governance",
                "charters", "entries",
            ],
            "properties": {
                "vigil_bundle": {"type": "integer", "enum": [1]},
                "repository": {"type": "string"},
                "checkpoint": checkpoint,
                "consistency": {
                    "type": "object",
                    "description": "Present when 0 < size < the tree size: the consistency "
                    "proof from the client's tree.",
                    "required": ["old_size", "proof"],
                    "properties": {"old_size": integer, "proof": proof},
                    "additionalProperties": False,
                },
                "status": {
                    "type": "object",
                    "description": "The repository's record proof, or its absence proof.",
                    "properties": {
                        "record": _ref("MapRecordProof"),
                        "absence": _ref("MapAbsenceProof"),
                    },
                    "additionalProperties": False,
                },
                "governance": {
                    "type": "object",
                    "required": ["record"],
                    "properties": {"record": _ref("MapRecordProof")},
                    "additionalProperties": False,
                },
                "charters": {
                    "type": "array",
                    "items": integer,
                    "description": "Log indexes of the charter versions newer than the "
                    "client's, oldest first.",
                },
                "entries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["index", "entry", "proof"],
                        "properties": {"index": integer, "entry": b64, "proof": proof},
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
        "SearchResults": {
            "type": "object",
            "required": ["entries", "next_page_token", "tree_size", "checkpoint"],
            "properties": {
                "entries": {"type": "array", "items": stored_entry},
                "next_page_token": {
                    "type": "string",
                    "nullable": True,
                    "description": "Opaque; pass as page_token for the next page. "
                    "null on the last page.",
                },
                "tree_size": integer,
                "checkpoint": checkpoint,
            },
            "additionalProperties": False,
        },
    }


def openapi_document(config: LogConfig) -> dict[str, Any]:
    """The OpenAPI 3.0 document for a log with this configuration."""
    limits = config.limits
    submit_errors = _errors(400, 403, 413, 422, 503)
    wait_ms = _query(
        "wait_ms",
        "Wait at most this many milliseconds for the covering checkpoint (the server's "
        "own limit still applies); 0 answers 202 as soon as the entries are durably "
        "sequenced.",
        pattern=_DECIMAL,
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"Vigil transparency log {config.origin}",
            "version": __version__,
            "description": "Submit signed in-toto statements (DSSE) and read the log. The "
            "read path /checkpoint and /tile/... follows c2sp.org/tlog-tiles.",
        },
        "paths": {
            "/checkpoint": {
                "get": {
                    "summary": "The latest signed checkpoint (c2sp.org/tlog-checkpoint).",
                    "operationId": "getCheckpoint",
                    "responses": {
                        "200": {
                            "description": "The checkpoint note.",
                            "content": {
                                "text/plain; charset=utf-8": {"schema": {"type": "string"}}
                            },
                        }
                    },
                }
            },
            "/tile/{path}": {
                "get": {
                    "summary": "A hash tile tile/<L>/<N>[.p/<W>] or an entry bundle "
                    "tile/entries/<N>[.p/<W>] (c2sp.org/tlog-tiles).",
                    "operationId": "getTile",
                    "parameters": [
                        _path("path", "The rest of the tile path after tile/, e.g. "
                              "0/x001/234.p/17 or entries/000.", pattern=_TILE_PATH)
                    ],
                    "responses": {
                        "200": {
                            "description": "The tile bytes.",
                            "content": {
                                "application/octet-stream": {
                                    "schema": {"type": "string", "format": "binary"}
                                }
                            },
                        },
                        **_errors(400, 404),
                    },
                }
            },
            "/api/v1/entries": {
                "post": {
                    "summary": "Submit one entry.",
                    "description": "Every signature is verified and the statement's kind "
                    "validated. Duplicates return the existing entry. Answers 200 once a "
                    "checkpoint covers the entry, else 202 with its index when the wait "
                    f"ends (at most {config.sequencer.submit_wait_s} s, or wait_ms). Body at "
                    f"most {limits.max_entry_bytes * 2 + 4096} bytes; the canonical entry at "
                    f"most {limits.max_entry_bytes} bytes.",
                    "operationId": "submitEntry",
                    "parameters": [wait_ms],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Envelope")}},
                    },
                    "responses": {
                        "200": _json(_ref("Submitted"), "Integrated, with inclusion proof."),
                        "202": _json(_ref("Accepted"), "Sequenced, not yet in a checkpoint."),
                        **submit_errors,
                    },
                }
            },
            "/api/v1/entries:batch": {
                "post": {
                    "summary": "Submit several entries at once (all or nothing).",
                    "description": f"At most {limits.max_batch_entries} entries and "
                    f"{limits.max_body_bytes} bytes. If any entry fails admission (format, "
                    "signatures, kind), none is logged. The charter's rules are applied at "
                    "commit time, entry by entry: an entry they refuse takes no index and the "
                    "answer is its refusal, while the others are logged (resubmitting returns "
                    "them as duplicates). Answers 200 once a checkpoint covers every entry, "
                    "else 202 when the wait ends "
                    f"(at most {config.sequencer.submit_wait_s} s, or wait_ms).",
                    "operationId": "submitBatch",
                    "parameters": [wait_ms],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Batch")}},
                    },
                    "responses": {
                        "200": _json(_ref("BatchSubmitted"), "Integrated, with proofs."),
                        "202": _json(
                            _ref("BatchAccepted"), "Sequenced, not yet in a checkpoint."
                        ),
                        **submit_errors,
                    },
                }
            },
            "/api/v1/entries/{index}": {
                "get": {
                    "summary": "An entry by index, with its inclusion proof.",
                    "operationId": "getEntry",
                    "parameters": [_path("index", "Leaf index, decimal.", pattern=_DECIMAL)],
                    "responses": {
                        "200": _json(_ref("Entry"), "The entry."),
                        **_errors(400, 404),
                    },
                }
            },
            "/api/v1/entries/by-leaf-hash/{leaf_hash}": {
                "get": {
                    "summary": "An entry by leaf hash, with its inclusion proof.",
                    "operationId": "getEntryByLeafHash",
                    "parameters": [_path("leaf_hash", "Leaf hash, hex.", pattern=_HEX_HASH)],
                    "responses": {
                        "200": _json(_ref("Entry"), "The entry."),
                        **_errors(400, 404),
                    },
                }
            },
            "/api/v1/proof/inclusion": {
                "get": {
                    "summary": "Inclusion proof of a leaf (by index or leaf hash).",
                    "operationId": "getInclusionProof",
                    "parameters": [
                        _query("index", "Leaf index (give index or leaf_hash).", pattern=_DECIMAL),
                        _query("leaf_hash", "Leaf hash, hex.", pattern=_HEX_HASH),
                        _query("tree_size", "Tree size (default: latest).", pattern=_DECIMAL),
                    ],
                    "responses": {
                        "200": _json(_ref("InclusionProof"), "The proof."),
                        **_errors(400, 404),
                    },
                }
            },
            "/api/v1/proof/consistency": {
                "get": {
                    "summary": "Consistency proof between two tree sizes.",
                    "operationId": "getConsistencyProof",
                    "parameters": [
                        _query("old", "Old tree size (> 0).", required=True, pattern=_DECIMAL),
                        _query("new", "New tree size (default: latest).", pattern=_DECIMAL),
                    ],
                    "responses": {
                        "200": _json(_ref("ConsistencyProof"), "The proof."),
                        **_errors(400, 404),
                    },
                }
            },
            "/api/v1/search": {
                "get": {
                    "summary": "Entries by subject digest, signer key or repository.",
                    "description": "Give exactly one of digest, signer, repository. Results "
                    f"ascend by index, at most {limits.max_search_results} per page.",
                    "operationId": "search",
                    "parameters": [
                        _query("digest", "ALGORITHM:VALUE, e.g. sha256:<hex>."),
                        _query("signer", "A signer's verifier key."),
                        _query("repository", "A repository name."),
                        _query("page_token", "From the previous page.", pattern=_DECIMAL),
                        _query("limit", "Page size.", pattern=_DECIMAL),
                    ],
                    "responses": {
                        "200": _json(_ref("SearchResults"), "One page of results."),
                        **_errors(400),
                    },
                }
            },
            "/api/v1/status/{repository}": {
                "get": {
                    "summary": "A repository's status record with its proofs.",
                    "description": "The record of the status map (latest release and those "
                    "still in grace, rebuild attestations, advisories in force) with its proof "
                    "against the map root in the checkpoint, or an absence proof; plus every "
                    "entry the record names with its inclusion proof. The empty name (an "
                    "encoded slash-free empty path is not routable, so use /api/v1/status/) "
                    "gives the governance record: the charter in force and revoked keys.",
                    "operationId": "getStatus",
                    "parameters": [_path("repository", "The repository name.")],
                    "responses": {
                        "200": _json(_ref("Status"), "The record and proofs."),
                        **_errors(404, 503),
                    },
                }
            },
            "/api/v1/bundle/{repository}": {
                "get": {
                    "summary": "A verification bundle for one repository.",
                    "description": "One request gives a client everything it checks: the "
                    "cosigned checkpoint, the consistency proof from the tree size it last "
                    "verified, the repository's status record and the governance record "
                    "with their map proofs, the entries they name, and the charter versions "
                    "newer than the one it trusts, each entry with its inclusion proof. "
                    "Compressed with gzip when the client accepts it.",
                    "operationId": "getBundle",
                    "parameters": [
                        _path("repository", "The repository name."),
                        _query("size", "The tree size the client last verified (0: none).",
                               pattern=_DECIMAL),
                        _query("charter", "The charter version the client trusts.",
                               pattern=_DECIMAL),
                    ],
                    "responses": {
                        "200": _json(_ref("Bundle"), "The bundle."),
                        **_errors(400, 404, 503),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "operationId": "getOpenAPI",
                    "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
                }
            },
        },
        "components": {"schemas": _schemas(config)},
    }
