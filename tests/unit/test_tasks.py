from __future__ import annotations

import json

import pytest

from labeling.exceptions import TaskDefinitionError
from labeling.project.tasks import parse_labels


def test_labels_from_a_comma_list():
    assert parse_labels("a, b ,c") == ["a", "b", "c"]


def test_a_long_comma_list_is_a_list_not_a_file_name():
    labels = [f"intent_number_{i}" for i in range(151)]  # CLINC150's size: 3,000+ characters
    assert parse_labels(",".join(labels)) == labels
    with pytest.raises(TaskDefinitionError):  # no OSError for a name too long to be a file
        parse_labels("x" * 5000)


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
