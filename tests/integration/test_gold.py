"""Gold items: finding items by words of the prompt (a repository query) and marking them."""

from __future__ import annotations

import pytest

from labeling.exceptions import TaskDefinitionError
from labeling.project.gold import find_items, gold_items, mark_gold
from labeling.project.importing import import_file
from tests.factories import CLI, make_queue_task, make_task, write_jsonl


@pytest.fixture
def music(engine, encoder, tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=30)
    return engine


def test_find_items_matches_words_in_any_case_by_id_and_within_the_limit(music):
    found = find_items(engine=music, actor=CLI, task_name="music", words="SAD songs")
    assert [r.text for r in found] == [
        "sad songs for running number 0", "sad songs for studying number 6",
        "sad songs for running number 12", "sad songs for studying number 18",
        "sad songs for running number 24"]
    assert [r.item_id for r in found] == sorted(r.item_id for r in found)
    assert len(find_items(engine=music, actor=CLI, task_name="music", words="songs", limit=7)) == 7
    assert find_items(engine=music, actor=CLI, task_name="music", words="   ") == []


def test_wildcards_in_the_words_match_themselves(engine, encoder, tmp_path):
    make_task(engine, name="deals", labels=("a", "b"))
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": t} for t in (
        "50% off jazz", "500 off jazz", "lo_fi beats", "lofi beats")])
    import_file(engine=engine, actor=CLI, task_name="deals", path=path, encoder=encoder)
    assert [r.text for r in find_items(engine=engine, actor=CLI, task_name="deals",
                                       words="0%")] == ["50% off jazz"]
    assert [r.text for r in find_items(engine=engine, actor=CLI, task_name="deals",
                                       words="o_f")] == ["lo_fi beats"]


def test_marking_and_unmarking_gold(music):
    [item] = find_items(engine=music, actor=CLI, task_name="music", words="number 7")
    mark_gold(engine=music, task_name="music", item_id=item.item_id, answer="sleep", actor=CLI)
    assert [(g.item_id, g.gold_label)
            for g in gold_items(engine=music, actor=CLI, task_name="music")] == [
        (item.item_id, "sleep")]
    assert find_items(engine=music, actor=CLI, task_name="music",
                      words="number 7")[0].gold_label == "sleep"
    mark_gold(engine=music, task_name="music", item_id=item.item_id, answer=None, actor=CLI)
    assert gold_items(engine=music, actor=CLI, task_name="music") == []
    with pytest.raises(TaskDefinitionError, match="not a label"):
        mark_gold(engine=music, task_name="music", item_id=item.item_id, answer="polka",
                  actor=CLI)
