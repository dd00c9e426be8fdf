"""Loaders of the real benchmarks and of the generic format, on small hand-made fixtures."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from memgym.envs.data import (
    detect_format,
    generate_synthetic,
    load_episodes,
    memory_r1_split,
    resolve_episodes,
    save_episodes,
)
from memgym.envs.data.cri import cri_dataset_path
from memgym.envs.data.memoryagentbench import split_context
from memgym.envs.episode import ABSTAIN_ANSWER, Episode
from memgym.errors import ConfigError, DatasetError, UnknownNameError

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("locomo10_mini.json", "locomo"),
        ("locomo_convs", "locomo"),
        ("longmemeval_s_mini.json", "longmemeval"),
        ("memoryagentbench_mini.jsonl", "memoryagentbench"),
        ("cri_mini", "cri"),
        ("episodes_mini.jsonl", "jsonl"),
    ],
)
def test_formats_are_detected(name, fmt):
    assert detect_format(FIXTURES / name) == fmt


# ----------------------------------------------------------------------------- LoCoMo
def test_locomo_released_form():
    conv26, conv30, conv41 = load_episodes(FIXTURES / "locomo10_mini.json")
    assert [conv26.id, conv30.id, conv41.id] == ["conv-26", "conv-30", "conv-41"]
    assert conv26.speakers == ["Jun", "Ama"] and conv26.source == "locomo"
    assert [(s.id, s.date_time, len(s.turns)) for s in conv26.sessions] == [
        ("D1", "1:56 pm on 8 May, 2023", 5),
        ("D2", "7:10 pm on 10 May, 2023", 2),
        ("D3", "9:00 am on 20 May, 2023", 0),
    ]
    assert (
        conv26.sessions[0].turns[2].text
        == "Great, I spent a week in Porto. [shares a photo: a photo of a bridge over a river]"
    )
    by_text = {q.question: q for q in conv26.questions}
    assert by_text["In what year did Jun start painting?"].answers == ["2019"]
    assert by_text["In what year did Jun start painting?"].category == "open-domain"
    assert by_text["What pets and trips did Jun mention?"].evidence == ["D1:3", "D2:1"]
    adversarial = by_text["What is Jun's favourite opera?"]
    assert adversarial.category == "adversarial" and adversarial.answers == [ABSTAIN_ANSWER]
    assert json.loads(conv26.metadata["adversarial_answers"]) == {adversarial.id: "Tosca"}
    assert {q.category for q in conv26.questions} == {
        "single-hop",
        "temporal",
        "multi-hop",
        "open-domain",
        "adversarial",
    }


def test_locomo_per_conversation_folder():
    a, b = load_episodes(FIXTURES / "locomo_convs")
    assert (a.id, b.id) == ("conv-a", "conv-b")
    assert [t.id for t in a.turns()] == ["D1:1", "D1:2", "D2:1"]
    assert b.questions[1].answers == [ABSTAIN_ANSWER]
    [single] = load_episodes(FIXTURES / "locomo_convs" / "conv-a.json", format="locomo")
    assert single.to_dict() == a.to_dict()


def test_memory_r1_split_drops_adversarial_questions():
    split = memory_r1_split(load_episodes(FIXTURES / "locomo10_mini.json"))
    counts = {name: sum(len(ep.questions) for ep in eps) for name, eps in split.items()}
    assert counts == {"train": 4, "validation": 3, "test": 2}
    assert [ep.id for ep in split["train"]] == ["conv-26"] and [ep.id for ep in split["validation"]] == [
        "conv-30"
    ]
    assert all(q.category != "adversarial" for eps in split.values() for ep in eps for q in ep.questions)


def test_memory_r1_split_finds_conversations_by_number_not_position():
    eps = load_episodes(FIXTURES / "locomo10_mini.json")
    split = memory_r1_split(list(reversed(eps)))  # a reversed list once made conversation 41 the train split
    assert [e.id for e in split["train"]] == ["conv-26"] and [e.id for e in split["validation"]] == ["conv-30"]
    for ep, new_id in zip(eps, ["26", "30", "41"], strict=True):  # the per-conversation form: file stems
        ep.id = new_id
    assert [e.id for e in memory_r1_split(eps)["test"]] == ["41"]
    assert memory_r1_split(eps[:2])["test"] == []  # the two development conversations only
    for ep, new_id in zip(eps, ["x", "y", "z"], strict=True):
        ep.id = new_id
    with pytest.raises(DatasetError, match=re.escape("needs LoCoMo conversations 26 (train) and 30 (validation), found no 26 or 30")):
        memory_r1_split(eps)


def test_locomo_without_qa_is_an_error_naming_the_file(tmp_path):
    conv = json.loads((FIXTURES / "locomo_convs" / "conv-a.json").read_text())
    del conv["qa"]
    path = write(tmp_path / "26.json", conv)
    with pytest.raises(DatasetError, match=re.escape(f"file {path}, record 26, field 'qa': no 'qa' list")):
        load_episodes(tmp_path, format="locomo")


@pytest.mark.skipif(
    not os.environ.get("MEMGYM_LOCOMO"), reason="set MEMGYM_LOCOMO to the released locomo10.json"
)
def test_memory_r1_split_counts_on_the_released_locomo():
    split = memory_r1_split(load_episodes(os.environ["MEMGYM_LOCOMO"]))
    assert {k: sum(len(e.questions) for e in v) for k, v in split.items()} == {
        "train": 152,
        "validation": 81,
        "test": 1307,
    }


# ----------------------------------------------------------------------------- LongMemEval
def test_longmemeval():
    normal, abstention = load_episodes(FIXTURES / "longmemeval_s_mini.json")
    assert normal.id == "q0001" and normal.sessions[1].date_time == "2023/05/21 (Sun) 10:02"
    [q] = normal.questions
    assert (
        q.category == "single-session-user"
        and q.answers == ["a master's in hydrology"]
        and q.evidence == ["D2:1"]
    )
    assert normal.metadata["question_date"] == "2023/05/30 (Tue) 23:40"
    assert json.loads(normal.metadata["haystack_session_ids"]) == ["chat_aa11", "answer_bb22"]
    [qa] = abstention.questions
    assert qa.category == "temporal-reasoning" and qa.answers == [ABSTAIN_ANSWER]  # its own type, not "abstention"
    assert abstention.metadata["question_type"] == "temporal-reasoning" and abstention.metadata["abstention"] == "true"
    assert abstention.metadata["original_answer"].startswith("The information provided is not enough")


# ----------------------------------------------------------------------------- MemoryAgentBench
def test_memoryagentbench_rows_and_context_turns():
    story, facts = load_episodes(FIXTURES / "memoryagentbench_mini.jsonl")
    assert story.source == "memoryagentbench" and story.id == "eventqa_mini-0"
    assert [q.id for q in story.questions] == ["ev-1", "ev-2"]
    assert (
        story.questions[1].answers == ["the Marigold", "Marigold"]
        and story.questions[0].category == "eventqa_mini"
    )
    assert facts.questions[0].answers == ["Kobaltana"]
    assert json.loads(story.metadata["keypoints"]) == ["Ona", "Marigold"]
    [short] = load_episodes(FIXTURES / "memoryagentbench_mini.jsonl", turn_tokens=20)[:1]
    assert len(short.turns()) > 1 and all(len(t.text.split()) <= 20 for t in short.turns())
    assert " ".join(t.text for t in short.turns()).split() == " ".join(t.text for t in story.turns()).split()


def test_context_split_never_loses_words():
    text = "One two three. Four five six seven eight nine ten eleven.\n\nTwelve.\n\n" + "word " * 50
    for limit in (1, 3, 7, 100):
        turns = split_context(text, limit)
        assert " ".join(turns).split() == text.split()
        assert all(len(t.split()) <= limit for t in turns)


def test_memoryagentbench_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (FIXTURES / "memoryagentbench_mini.jsonl").read_text().splitlines()]
    rows[1]["answers"] = [["Kobaltana"]]  # parquet columns need one type
    rows[1]["metadata"] = {"source": "factconsolidation_mini", "qa_pair_ids": ["f-1"], "keypoints": []}
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "mab.parquet")
    assert detect_format(tmp_path / "mab.parquet") == "memoryagentbench"
    eps = load_episodes(tmp_path / "mab.parquet")
    assert [q.id for q in eps[1].questions] == ["f-1"] and eps[0].questions[0].answers == ["Ona"]


# ----------------------------------------------------------------------------- CRI
def test_cri_fixture_questions_from_ground_truth():
    [ep] = load_episodes(FIXTURES / "cri_mini")
    assert ep.id == "persona-mini" and ep.speakers == ["Ivo Petrov", "assistant"]
    assert [(s.id, s.date_time) for s in ep.sessions][:2] == [
        ("D1", "2025-01-03T08:00:00"),
        ("D2", "2025-01-20T19:00:00"),
    ]
    assert ep.sessions[0].turns[0].speaker == "Ivo Petrov"
    by_cat = {}
    for q in ep.questions:
        by_cat.setdefault(q.category, []).append(q)
    assert [q.answers for q in by_cat["profile"]] == [["Ivo Petrov"], ["train driver"], ["chess; fishing"]]
    [before] = by_cat["temporal"]
    assert before.answers == ["bus driver"] and before.evidence == ["D1:1", "D2:1", "D3:1"]
    [update] = by_cat["knowledge-update"]
    assert update.asked_after == "D3:1" and update.answers == ["train driver"]
    assert by_cat["conflict"][0].answers == ["pescatarian"] and ep.metadata["n_query_relevance_pairs"] == "1"


def test_cri_installed_persona_dataset():
    try:
        cri_dataset_path()
    except DatasetError:
        pytest.skip("cri-benchmark is not installed")
    [ep] = resolve_episodes("cri")
    assert len(ep.sessions) == 665 and len(ep.turns()) == 2862
    assert {q.category for q in ep.questions} == {"profile", "temporal", "knowledge-update", "conflict"}
    assert all(q.asked_after is None or q.asked_after in {t.id for t in ep.turns()} for q in ep.questions)


# ----------------------------------------------------------------------------- generic format
def test_generic_jsonl_handmade_fixture():
    [ep] = load_episodes(FIXTURES / "episodes_mini.jsonl")
    assert ep.sessions[1].turns[1].id == "D2:2"  # a missing turn id is filled in
    assert ep.questions[1].answers == ["Tartu"] and ep.questions[1].asked_after == "D1:2"
    assert ep.metadata == {"note": "written by hand for the tests"} and ep.source == "handmade"


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_save_and_load_round_trip(tmp_path, suffix):
    episodes = generate_synthetic(2, seed=1)
    path = save_episodes(episodes, tmp_path / f"sub/eps{suffix}")
    assert [e.to_dict() for e in load_episodes(path)] == [e.to_dict() for e in episodes]


# ----------------------------------------------------------------------------- malformed input
def test_malformed_inputs_name_file_record_and_field(tmp_path):
    bad_json = write(tmp_path / "locomo_bad.json", '[{"sample_id": "conv-1", "conversation": {')
    with pytest.raises(DatasetError, match=r"locomo_bad\.json: not valid JSON"):
        load_episodes(bad_json, format="locomo")

    locomo = json.loads((FIXTURES / "locomo10_mini.json").read_text())
    del locomo[1]["conversation"]["session_1"][1]["text"]
    path = write(tmp_path / "locomo.json", locomo)
    with pytest.raises(
        DatasetError,
        match=re.escape(
            f"file {path}, record conv-30, field 'conversation.session_1[1].text': missing required field"
        ),
    ):
        load_episodes(path)

    locomo = json.loads((FIXTURES / "locomo10_mini.json").read_text())
    del locomo[0]["qa"][0]["answer"]
    with pytest.raises(DatasetError, match=re.escape("field 'qa[0].answer'")):
        load_episodes(write(tmp_path / "locomo2.json", locomo))

    lme = json.loads((FIXTURES / "longmemeval_s_mini.json").read_text())
    lme[1]["haystack_dates"] = []
    lme[0]["haystack_dates"] = ["2023/05/20 (Sat) 02:21"]
    with pytest.raises(
        DatasetError, match=re.escape("record q0001, field 'haystack_dates': has 1 dates for 2 sessions")
    ):
        load_episodes(write(tmp_path / "lme.json", lme))

    lines = (FIXTURES / "episodes_mini.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["questions"][0]["asked_after"] = "D9:9"
    path = write(tmp_path / "eps.jsonl", "\n" + json.dumps(row) + "\n")
    with pytest.raises(
        DatasetError,
        match=re.escape(
            "record line 2 (episode handmade-1), field 'questions[0].asked_after': turn 'D9:9' is not in"
        ),
    ):
        load_episodes(path)
    row = json.loads(lines[0])
    row["op_labels"][0]["kind"] = "INSERT"
    with pytest.raises(
        DatasetError, match=re.escape("field 'op_labels[0].kind': unknown operation 'INSERT'")
    ):
        load_episodes(write(tmp_path / "eps2.jsonl", json.dumps(row)))
    row = json.loads(lines[0])
    row["sessions"][0]["turns"] = "hello"
    with pytest.raises(DatasetError, match=re.escape("field 'sessions[0].turns': expected a list, got str")):
        load_episodes(write(tmp_path / "eps3.jsonl", json.dumps(row)))
    with pytest.raises(DatasetError, match=re.escape("record line 1: not valid JSON")):
        load_episodes(write(tmp_path / "eps4.jsonl", "{oops}\n"), format="jsonl")

    with pytest.raises(DatasetError, match=re.escape("field 'answers': has 1 answers for 2 questions")):
        load_episodes(
            write(tmp_path / "mab.jsonl", {"context": "x", "questions": ["a", "b"], "answers": ["1"]})
        )


def test_malformed_cri_folder(tmp_path):
    folder = tmp_path / "cri"
    shutil.copytree(FIXTURES / "cri_mini", folder)
    with open(folder / "conversations.jsonl", "a", encoding="utf-8") as f:
        f.write('{"message_id": "eleven", "role": "user", "content": "x", "session_id": "s"}\n')
    with pytest.raises(
        DatasetError, match=re.escape("record line 11, field 'message_id': expected an integer")
    ):
        load_episodes(folder)


def test_unknown_formats_and_sources():
    with pytest.raises(UnknownNameError, match="Did you mean: locomo"):
        load_episodes(FIXTURES / "locomo10_mini.json", format="locomoo")
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_episodes(FIXTURES / "missing.json")
    with pytest.raises(DatasetError, match="cannot tell the format"):
        detect_format(FIXTURES / "README.md")
    with pytest.raises(ConfigError, match="not Episode objects"):
        resolve_episodes([1, 2])


def test_hub_paths_fail_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetError, match="HF_HUB_OFFLINE is set"):
        load_episodes("hf:xiaowu0162/longmemeval/longmemeval_s")
    with pytest.raises(ConfigError, match="must look like hf:<owner>/<dataset>/<file"):
        load_episodes("hf:only-a-name")


def test_resolve_episodes():
    assert [e.id for e in resolve_episodes(n_episodes=2, seed=4)] == ["synthetic-4-0", "synthetic-4-1"]
    assert (
        resolve_episodes(None, n_episodes=1, config={"n_entities": 2})[0]
        .metadata["config"]
        .count('"n_entities": 2')
    )
    eps = resolve_episodes(FIXTURES / "longmemeval_s_mini.json")
    assert resolve_episodes(eps) is eps and all(isinstance(e, Episode) for e in eps)
    from memgym.envs.episode import to_dataset

    assert [e.id for e in resolve_episodes(to_dataset(eps))] == ["q0001", "q0002_abs"]
