"""The seal's rule on contents-API writes: browser uploads refused (pointing to the airlock), saves let through."""

from __future__ import annotations

import json

import pytest

from spawner_config.seal_rules import Limits, Refusal, Route, check_upload

ROUTE = Route("remi", "cohort-a", "api/contents/work/table.csv")
NOTEBOOK = Route("remi", "cohort-a", "api/contents/work/analysis.ipynb")


def body(**model) -> bytes:
    return json.dumps(model).encode()


@pytest.mark.parametrize("model", [
    {"type": "file", "format": "base64", "content": "YSxiCjEsMgo="},  # the uploader, any file but a notebook
    {"type": "file", "format": "base64", "content": "YQ==", "chunk": 2},  # a large file, in chunks
    {"type": "notebook", "format": "json", "content": {"cells": []}, "name": "upload.ipynb"},  # a notebook upload
    {"type": "file", "format": "text", "content": "a,b\n", "name": "table.csv"},
])
def test_uploads_are_refused_with_a_pointer_to_the_airlock(model):
    with pytest.raises(Refusal, match="import airlock"):
        check_upload("PUT", ROUTE, body(**model), Limits())


def test_saves_of_edited_files_and_notebooks_pass():
    check_upload("PUT", NOTEBOOK, body(type="notebook", format="json", content={"cells": [], "metadata": {}}), Limits())
    check_upload("PUT", ROUTE, body(type="file", format="text", content="a,b\n1,2\n"), Limits())
    check_upload("POST", Route("remi", "cohort-a", "api/contents/work"), body(type="notebook"), Limits())  # new file
    check_upload("PATCH", ROUTE, body(path="work/renamed.csv"), Limits())  # a rename
    check_upload("GET", ROUTE, None, Limits())


def test_a_save_larger_than_what_the_browser_may_open_is_refused():
    big = body(type="file", format="text", content="x" * (Limits().text_file_cap + 1))
    with pytest.raises(Refusal, match="import airlock") as refused:
        check_upload("PUT", ROUTE, big, Limits())
    assert refused.value.status == 413
