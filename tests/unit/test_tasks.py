from __future__ import annotations

import json

import pytest

from labeling.exceptions import TaskDefinitionError
from labeling.project.tasks import parse_labels


def test_labels_from_a_comma_list():
    assert parse_labels("a, b ,c") == ["a", "b", "c"]


def test_labels_from_text_and_json_files(tmp_path):
    (tmp_path / "l.txt").write_text("safe\nhate\n\n")
    (tmp_path / "l.json").write_text(json.dumps(["x", "y"]))
    assert parse_labels(str(tmp_path / "l.txt")) == ["safe", "hate"]
    assert parse_labels(str(tmp_path / "l.json")) == ["x", "y"]


@pytest.mark.parametrize("spec, message", [
    ("", "at least one"), ("a,a", "duplicate"), ("missing/labels.txt", "not found"),
])
def test_bad_label_sets(spec, message):
    with pytest.raises(TaskDefinitionError, match=message):
        parse_labels(spec)
