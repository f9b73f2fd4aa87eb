"""The seal's decisions, as pure functions: which requests are refused before the server is asked,
which answers may reach the browser, how over-limit messages are cut, how budgets and the audit
trail behave. The same rules run against a real hub and containers in the other tests here."""

from __future__ import annotations

import base64
import json

import pytest

from enclave.audit_actions import AuditAction
from spawner_config.seal_budget import AuditCoalescer
from spawner_config.seal_rules import (
    NOTICE,
    Limits,
    Refusal,
    check_request,
    judge_contents,
    looks_binary,
    parse_route,
    schema_hash,
    settings_to_charge,
    shrink_message,
    socket_channel,
)

PREFIX = "/user/bob/cardio/"


def refused(path: str, method: str = "GET") -> str | None:
    raw, _, query = path.partition("?")
    try:
        check_request(method, parse_route(raw), query)
    except Refusal as refusal:
        return refusal.reason
    return None


@pytest.mark.parametrize("path", [
    "files/data/IR_BEN_R.parquet",
    "files/work/link-to-data.parquet",
    "files/data%2FIR_BEN_R.parquet",
    "%66iles/data/IR_BEN_R.parquet",          # the route itself percent-encoded
    "view/data/IR_BEN_R.parquet",
    "nbconvert/html/work/analysis.ipynb?download=true",
    "nbconvert/script/work/analysis.ipynb",
    "lab/tree/work/x.csv?download=1",
    "api/contents/work/x.csv?Download=1",
    "api/contents/data/IR_BEN_R.parquet",
    "api/contents/data%2FIR_BEN_R.parquet?type=file&format=base64",
    "api/contents/data/ER_PRS_F.parquet?content=1",
])
def test_raw_transfers_are_refused_before_the_server_is_asked(path):
    assert refused(PREFIX + path)


@pytest.mark.parametrize("path", [
    "work/../data/IR_BEN_R.parquet", "api/contents/work/%2E%2E/data/x", "./files/data/x", "a//files/data/x",
])
def test_climbing_or_empty_segments_are_refused(path):
    assert refused(PREFIX + path)


@pytest.mark.parametrize("path", [
    "lab", "lab/tree/WELCOME.md", "api/contents/work?content=1", "api/contents/data?content=1",
    "api/contents/data/IR_BEN_R.parquet?content=0", "api/contents/data/DATA_DICTIONARY.md",
    "api/kernels", "api/sessions", "static/lab/main.js", "api/nbconvert",
])
def test_working_routes_pass(path):
    assert refused(PREFIX + path) is None


def test_only_server_addresses_are_forwarded():
    for path in ("/hub/home", "/user/bob", "/services/egress/", "/"):
        with pytest.raises(Refusal):
            parse_route(path)
    assert parse_route("/user/bob/cardio/lab").rest == "lab"


def model(**fields) -> bytes:
    return json.dumps({"name": "x", "path": "work/x", **fields}).encode()


def test_contents_answers_carry_no_extract_binary_or_large_file():
    limits = Limits()
    judge_contents(model(type="directory", content=[{"name": "a"}]), limits)
    judge_contents(model(type="notebook", content={"cells": []}, format="json"), limits)
    judge_contents(model(type="file", format="text", content="a,b\n1,2\n"), limits)
    judge_contents(model(type="file", content=None), limits)  # metadata only
    judge_contents(model(type="file", path="data/DATA_DICTIONARY.md", format="text", content="# tables"), limits)
    for bad in (model(type="file", format="base64", content=base64.b64encode(b"PAR1...").decode()),
                model(type="file", path="data/IR_BEN_R.csv", format="text", content="a,b"),
                model(type="file", format="text", content="x" * (limits.text_file_cap + 1)),
                model(type="notebook", content={"cells": [], "pad": "x" * limits.notebook_cap}),
                b"not json"):
        with pytest.raises(Refusal):
            judge_contents(bad, limits)


def test_binary_is_told_from_text():
    assert looks_binary(b"PAR1\x00\x01\xff")
    assert looks_binary(bytes(range(256)))
    assert not looks_binary("région,n\nNord,12\n".encode())


def kernel_message(msg_type: str, content: dict, msg_id: str = "m1") -> str:
    return json.dumps({"header": {"msg_id": msg_id, "msg_type": msg_type, "session": "s", "username": "bob",
                                  "date": "2026-01-01", "version": "5.3"},
                       "parent_header": {"msg_id": "p1", "msg_type": "execute_request"}, "metadata": {"x": "y" * 900},
                       "content": content, "buffers": [], "channel": "iopub", "msg_id": msg_id, "msg_type": msg_type})


def test_a_big_stream_message_is_cut_with_a_notice():
    text = "0123456789abcdef" * 40_000
    out = json.loads(shrink_message("kernel", kernel_message("stream", {"name": "stdout", "text": text}), 8192, "cap"))
    assert out["msg_type"] == "stream" and out["parent_header"]["msg_id"] == "p1"
    assert out["content"]["text"].startswith(text[:4000])
    assert NOTICE.format(what="cap") in out["content"]["text"]
    assert len(json.dumps(out)) < 8192 + 1024


def test_rich_outputs_become_the_notice_and_headers_are_clipped():
    message = kernel_message("display_data", {"data": {"text/html": "<td>" * 100_000}}, msg_id="z" * 5000)
    out = json.loads(shrink_message("kernel", message, 0, "budget"))
    assert out["content"]["data"] == {"text/plain": NOTICE.format(what="budget")}
    assert len(out["header"]["msg_id"]) == 64 and out["metadata"] == {}
    assert len(json.dumps(out)) < 2048
    # a message type with no safe replacement is dropped
    assert shrink_message("kernel", kernel_message("comm_msg", {"data": "x" * 10_000}), 0, "budget") is None
    assert shrink_message("kernel", "not json", 0, "budget") is None


def test_terminal_output_is_cut_with_a_notice():
    out = json.loads(shrink_message("terminal", json.dumps(["stdout", "A" * 100_000]), 4096, "cap"))
    assert out[0] == "stdout" and out[1].startswith("A" * 3000) and "egress gate" in out[1]
    assert len(out[1]) < 4096 + 512
    assert shrink_message("terminal", json.dumps(["setup", {}]), 0, "cap") is None


def test_socket_channels():
    assert socket_channel("api/kernels/abc/channels") == "kernel"
    assert socket_channel("terminals/websocket/1") == "terminal"
    assert socket_channel("api/events/subscribe") == "other"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refusals_are_audited_and_a_flood_is_folded():
    clock, written = Clock(), []
    audit = AuditCoalescer(write=lambda *event: written.append(event), window=10, clock=clock)
    for i in range(500):
        audit.hit("bob", "cardio", AuditAction.seal_refused, f"/files/{i}", 10, reason="files")
    assert len(written) == 1 and written[0][3]["path"] == "/files/0"
    audit.flush()
    assert len(written) == 1                         # still inside the window
    clock.now = 11
    audit.flush()
    assert len(written) == 2
    folded = written[1][3]
    assert folded["hits"] == 499 and folded["bytes"] == 4990 and folded["last_path"] == "/files/499"
    clock.now = 22                                   # a quiet window later: at once again
    audit.hit("bob", "cardio", AuditAction.seal_refused, "/files/x", 1, reason="files")
    assert len(written) == 3
    audit.hit("bob", "cardio", AuditAction.seal_alarm, "/x", 0, fold="encoded", kind="encoded")  # kinds are never folded together
    audit.hit("bob", "cardio", AuditAction.seal_alarm, "/x", 0, fold="image", kind="image")
    assert [event[3]["kind"] for event in written[3:]] == ["encoded", "image"]


def test_a_cut_message_fits_its_room_even_when_escapes_grow_it():
    text = "\n\t\"\\" * 100_000  # each character takes two bytes in JSON
    for channel, message in (("kernel", kernel_message("stream", {"name": "stdout", "text": text})),
                             ("terminal", json.dumps(["stdout", text]))):
        out = shrink_message(channel, message, 16_384, "cap")
        assert len(out.encode()) <= 16_384 and "output limit reached" in out


def test_the_images_own_settings_schemas_are_not_charged_but_everything_else_is():
    own = {"title": "Notebook", "properties": {"kernelShutdown": {"type": "boolean", "default": False}}}
    planted = {"title": "Notebook", "description": "ER_PRS_F as hex: 504152310415..."}
    answer = json.dumps({"settings": [
        {"id": "@jupyterlab/notebook-extension:tracker", "raw": "{}", "settings": {}, "schema": own},
        {"id": "@jupyterlab/notebook-extension:panel", "raw": '{"x": "' + "ab" * 500 + '"}', "settings": {}, "schema": planted},
    ]}).encode()
    charged = settings_to_charge(answer, frozenset({schema_hash(own)}))
    assert b"kernelShutdown" not in charged and schema_hash(own)[:16].encode() in charged  # which schema: still counted
    assert b"504152310415" in charged and b"ab" * 500 in charged                          # not the image's: charged
    single = json.dumps({"id": "a:b", "raw": "{}", "schema": own}).encode()              # one plugin's settings
    assert b"kernelShutdown" not in settings_to_charge(single, frozenset({schema_hash(own)}))
    assert schema_hash(dict(reversed(list(own.items())))) == schema_hash(own)              # key order does not matter
    assert settings_to_charge(b"not json", frozenset()) is None
    assert settings_to_charge(b"[1, 2]", frozenset()) is None
