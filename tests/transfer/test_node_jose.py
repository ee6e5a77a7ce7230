"""The protocol as another implementation sees it: tests/transfer/node/check.mjs, written
from docs/transfer-protocol.md with Node.js, the `jose` library and the RFC 8785 reference
`canonicalize` (no Python), checks every conformance vector, builds envelopes that our inbox
receives, and verifies the receipts our inbox signs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mla.transfer import canonical
from tests.api_helpers import Api
from tests.transfer import vector_instance, vectors

NODE_DIR = Path(__file__).parent / "node"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or not (NODE_DIR / "node_modules" / "jose").is_dir(),
    reason="Node.js and `npm ci --prefix tests/transfer/node` (.ci/run does both) are needed "
           "for the independent implementation's check")


def _node(mode: str, stdin: str | None = None) -> str:
    assert NODE is not None
    result = subprocess.run([NODE, str(NODE_DIR / "check.mjs"), mode, str(vectors.FOLDER)],
                            input=stdin, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_independent_implementation_agrees_with_every_vector() -> None:
    assert _node("verify").strip() == "all vectors hold"


def test_envelopes_built_by_node_are_received_and_our_receipts_verify_there(
        vector_receiver: Api) -> None:
    built: list[dict[str, Any]] = json.loads(_node("build"))
    payloads = {m["name"]: m["payload"] for m in vectors.load("messages")["messages"]
                if "payload" in m}
    assert [b["name"] for b in built] == [n for n, p in payloads.items() if "hash" in p]
    checked = []
    for item in built:
        payload = payloads[item["name"]]
        # Node's hash of the payload is ours.
        assert item["payload_sha256"] == canonical.content_sha256(payload)
        answer = vector_instance.deliver(vector_receiver, item["envelope"], item["now"])
        assert answer.status_code == 200, (item["name"], answer.text)
        checked.append({"receipt": answer.json()["receipt"], "payload": payload})
    assert _node("receipts", json.dumps(checked)).strip() == f"{len(checked)} receipts verified"
