"""``memgym data generate | stats | convert``."""

import json
import re
import subprocess
import sys
from pathlib import Path

from memgym.cli import main
from memgym.envs.data import dataset_stats, episode_tokens, generate_synthetic, load_episodes

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def test_generate_then_stats(tmp_path, capsys):
    out = tmp_path / "syn.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text("n_entities: 2\nquestions_per_category: {single-hop: 2, counting: 0}\n")
    assert (
        main(
            [
                "data",
                "generate",
                "--out",
                str(out),
                "-n",
                "3",
                "--seed",
                "5",
                "--config",
                str(config),
                "--set",
                "turns_per_session=10",
                "--set",
                "n_sessions=8",
            ]
        )
        == 0
    )
    assert re.search(
        r"wrote 3 episodes \([\d,]+ tokens, generated in [\d.]+ s, [\d,]+ tokens/s\)", capsys.readouterr().out
    )
    episodes = load_episodes(out)
    assert [len(ep.sessions) for ep in episodes] == [8, 8, 8] and all(
        len(ep.speakers) == 2 for ep in episodes
    )
    assert all(q.category == "single-hop" for ep in episodes for q in ep.questions)

    assert main(["data", "stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats == dataset_stats(episodes)
    assert stats["conversations"] == 3 and stats["turns"] == 240
    assert stats["tokens"] == sum(episode_tokens(ep) for ep in episodes)
    assert (
        stats["op_labels"]["NOOP"]
        + stats["op_labels"]["ADD"]
        + stats["op_labels"]["UPDATE"]
        + stats["op_labels"]["DELETE"]
        == 240
    )

    assert main(["data", "stats", str(out)]) == 0
    table = capsys.readouterr().out
    assert re.search(r"^turns\s+240$", table, re.MULTILINE)
    assert re.search(
        rf"^  single-hop\s+{stats['questions_per_category']['single-hop']}$", table, re.MULTILINE
    )
    assert re.search(rf"^  ADD\s+{stats['op_labels']['ADD']}$", table, re.MULTILINE)


def test_stats_of_a_benchmark_file_with_a_named_format(capsys):
    assert main(["data", "stats", str(FIXTURES / "locomo10_mini.json"), "--format", "locomo"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"^conversations\s+3$", table, re.MULTILINE)
    assert re.search(r"^  adversarial\s+3$", table, re.MULTILINE)
    assert "op labels                    none" in table


def test_convert_with_the_memory_r1_split(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "convert",
                str(FIXTURES / "locomo10_mini.json"),
                str(tmp_path / "r1"),
                "--split",
                "memory-r1",
            ]
        )
        == 0
    )
    assert "train: 1 conversations, 4 questions" in capsys.readouterr().out
    assert [e.id for e in load_episodes(tmp_path / "r1" / "test.jsonl")] == ["conv-41"]
    assert (
        main(["data", "convert", str(FIXTURES / "longmemeval_s_mini.json"), str(tmp_path / "lme.jsonl")]) == 0
    )
    assert [e.to_dict() for e in load_episodes(tmp_path / "lme.jsonl")] == [
        e.to_dict() for e in load_episodes(FIXTURES / "longmemeval_s_mini.json")
    ]


def test_convert_takes_the_output_as_the_configs_write_it(tmp_path, capsys):
    # the form the shipped configs/memory_r1_*_locomo.yaml once printed: the output as --out
    source = str(FIXTURES / "locomo_convs")
    assert main(["data", "convert", str(FIXTURES / "locomo10_mini.json"), "--split", "memory-r1", "--out",
                 str(tmp_path / "r1")]) == 0
    assert [e.id for e in load_episodes(tmp_path / "r1" / "validation.jsonl")] == ["conv-30"]
    assert main(["data", "convert", source, str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "b.jsonl")]) == 2
    assert "give the output once" in capsys.readouterr().err


def test_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    assert main(["data", "stats", str(bad), "--format", "jsonl"]) == 2
    assert "memgym data: error: file" in capsys.readouterr().err
    assert main(["data", "generate", "--out", str(tmp_path / "x.jsonl"), "--set", "update_rate=2"]) == 2
    assert "update_rate must be within [0, 1]" in capsys.readouterr().err


def test_the_installed_command_runs(tmp_path):
    out = tmp_path / "one.jsonl"
    subprocess.run(
        [sys.executable, "-m", "memgym", "data", "generate", "-o", str(out), "-n", "1"],
        check=True,
        capture_output=True,
    )
    assert load_episodes(out)[0].to_dict() == generate_synthetic(1)[0].to_dict()
