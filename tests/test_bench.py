"""The benchmark harness: figures checked against a hand computation, the report files, parallel runs."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

import memgym.envs
from memgym.envs.data import synthetic_suite
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
from memgym.errors import ConfigError
from memgym.policies.backends import Generation
from memgym.policies.bench import run_bench
from memgym.policies.bench.report import PLOT_FILES, accuracy_by_length

ENV = "memgym/MemoryManager-v0"
NOOP = '{"memory": []}'
FIXTURES = Path(__file__).parent / "fixtures" / "data"
LOCOMO_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo-dev"


@pytest.fixture(scope="module")
def episodes():
    return generate_synthetic(
        2, seed=3, config=SyntheticConfig(n_entities=2, facts_per_entity=2, n_sessions=2, turns_per_session=8)
    )


def by_hand(episodes, choose):
    """Per-category EM from the environment's own ``info["answers"]``, stepping with plain ``env.step``."""
    env = memgym.envs.make(ENV, episodes=episodes).unwrapped
    scores, entries = {}, []
    for i in range(len(episodes)):
        env.reset(seed=i, options={"episode_index": i})
        done = False
        while not done:
            _, _, done, _, info = env.step(choose(env))
            for row in info["answers"]:
                scores.setdefault(row["category"], []).append(1.0 if row["correct"] else 0.0)
        entries.append(len(env.bank))
    return {c: sum(v) / len(v) for c, v in scores.items()}, sum(len(v) for v in scores.values()), entries


@pytest.fixture(scope="module")
def small_run(episodes, tmp_path_factory):
    result = run_bench(["oracle", "noop"], ENV, episodes, batch_size=2, progress=False)
    out = tmp_path_factory.mktemp("bench")
    return result, result.save(out), out


def test_figures_match_a_hand_computation(small_run, episodes):
    result, _, _ = small_run
    summary = result.summary()
    for name, choose in (("oracle", lambda env: env.oracle_action()), ("noop", lambda env: NOOP)):
        expected, n, entries = by_hand(episodes, choose)
        got = {c: row["em"] for c, row in summary[name]["by_category"].items()}
        assert got == pytest.approx(expected)
        assert summary[name]["overall"]["n"] == n
        assert summary[name]["memory_entries"] == pytest.approx(sum(entries) / len(entries))
    assert summary["oracle"]["op_accuracy"] == 1.0
    assert summary["noop"]["op_accuracy_facts"] == 0.0
    labels = [lb.kind for ep in episodes for lb in ep.op_labels]
    assert summary["noop"]["ops"]["NOOP"] == len(labels)  # one NOOP per turn
    assert summary["oracle"]["ops"]["ADD"] == labels.count("ADD")


def test_report_files_hold_the_numbers(small_run, episodes):
    result, paths, out = small_run
    assert set(paths) == {"results.json", "report.md", *PLOT_FILES}
    expected, _, _ = by_hand(episodes, lambda env: NOOP)
    report = (out / "report.md").read_text()
    for category, value in expected.items():
        section = report.split(f"## {category} (")[1].split("\n## ")[0]
        assert f"| noop | {100 * value:.1f} |" in section
        assert "| oracle | 100.0 |" in section
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["env_id"] == ENV and data["config"]["seed"] == 0
    assert data["dataset"]["conversations"] == 2
    assert data["summary"]["noop"]["by_category"] == result.summary()["noop"]["by_category"]
    assert len(data["policies"]["oracle"]["episodes"]) == 2
    import matplotlib.image

    for name in PLOT_FILES:
        height, width, _ = matplotlib.image.imread(out / name).shape
        assert height > 100 and width > 100


def test_accuracy_by_length_partitions_the_questions(small_run):
    result, _, _ = small_run
    for name, points in accuracy_by_length(result).items():
        overall = result.summary()[name]["overall"]
        assert sum(n for _, _, n in points) == overall["n"]
        assert sum(acc * n for _, acc, n in points) / overall["n"] == pytest.approx(overall["em"])


def test_flat_metrics_for_trainers(small_run):
    metrics = small_run[0].metrics(prefix="eval/")
    assert metrics["eval/oracle/em"] == 1.0
    assert metrics["eval/noop/abstention/em"] == 1.0
    assert "eval/noop/single-hop/em" in metrics


def test_deterministic_and_independent_of_batching(episodes):
    def records(**kw):
        result = run_bench(
            ["mem0_heuristic", "store_all"],
            ENV,
            episodes,
            env_kwargs={"max_entries": 12},
            progress=False,
            **kw,
        )
        return {p.name: p.episodes for p in result.policies}

    one = records(batch_size=1, seed=5)
    assert one == records(batch_size=3, seed=5) == records(batch_size=1, seed=5)


def test_inapplicable_policy_is_skipped_with_the_reason(episodes, tmp_path):
    result = run_bench(["rag_turns", "noop"], "memgym/MemoryOverwrite-v0", episodes, progress=False)
    assert "no meaning on MemoryOverwriteEnv" in result.summary()["rag_turns"]["skipped"]
    assert result.summary()["noop"]["overall"]["n"] > 0
    result.save(tmp_path, plots=False)
    assert "## Skipped" in (tmp_path / "report.md").read_text()


def test_bad_arguments_are_refused(episodes):
    with pytest.raises(ConfigError, match="unknown metric"):
        run_bench(["noop"], ENV, episodes, metrics=("em", "rouge"), progress=False)
    with pytest.raises(ConfigError, match="distinct names"):
        run_bench(["noop", "noop"], ENV, episodes, progress=False)


class GradingBackend:
    """Stands in for a judging LLM, which cannot run here: reads the judge prompt, answers CORRECT when
    the generated answer equals one of the gold answers (case-insensitive), else WRONG."""

    def __init__(self) -> None:
        self.prompts = 0

    def generate(self, prompts, params=None):
        self.prompts += len(prompts)
        out = []
        for prompt in prompts:
            user = prompt[-1]["content"]
            gold = re.search(r"Gold answer: (.*)", user).group(1).lower().split(" or ")
            said = re.search(r"Generated answer: (.*)", user).group(1).strip().lower()
            out.append(Generation(text='{"label": "CORRECT"}' if said in gold else '{"label": "WRONG"}'))
        return out


def test_judge_adds_j(episodes, tmp_path):
    from memgym.rewards.judge import LLMJudge

    backend = GradingBackend()
    result = run_bench(["oracle", "noop"], ENV, episodes, judge=LLMJudge(backend), progress=False)
    for s in result.summary().values():
        for row in s["by_category"].values():
            assert row["j"] == row["em"]  # exact answers: the grader agrees with EM
    n_items = len(
        {(q["question"], tuple(q["gold"]), q["prediction"]) for p in result.policies for q in p.questions()}
    )
    assert backend.prompts == n_items  # one judge call, duplicates asked once
    result.save(tmp_path, plots=False)
    assert "| policy | EM (SQuAD) | F1 (SQuAD) | BLEU-1 (SQuAD words) | J |" in (tmp_path / "report.md").read_text()


def test_cli_writes_the_report(tmp_path, capsys):
    from memgym.cli import main

    out = tmp_path / "bench"
    assert (
        main(
            [
                "bench",
                "--episodes",
                "1",
                "--policies",
                "oracle",
                "noop",
                "--out",
                str(out),
                "--no-progress",
                "--no-plots",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "| oracle | 100.0 |" in printed
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["env_kwargs"] == {"max_entries": 40}
    assert data["dataset"]["conversations"] == len(synthetic_suite(0, 1)) == 3
    command = shlex.split(data["config"]["command"])
    assert command[:2] == ["memgym", "bench"] and "--episodes" in command


def test_cli_reports_bad_input(capsys, tmp_path):
    from memgym.cli import main

    assert main(["bench", "--policies", "mem0_heuristc", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "Did you mean: mem0_heuristic" in capsys.readouterr().err


@pytest.mark.slow  # two fresh processes import memgym
def test_worker_processes_give_the_same_figures(episodes):
    local = run_bench(["mem0_heuristic", "noop"], ENV, episodes, progress=False)
    spread = run_bench(["mem0_heuristic", "noop"], ENV, episodes, workers=2, batch_size=1, progress=False)
    assert [p.episodes for p in local.policies] == [p.episodes for p in spread.policies]


@pytest.mark.slow  # starts a local Ray instance
def test_ray_gives_the_same_figures(episodes):
    ray = pytest.importorskip("ray")
    local = run_bench(["oracle", "store_all"], ENV, episodes, progress=False)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        spread = run_bench(["oracle", "store_all"], ENV, episodes, ray=True, batch_size=1, progress=False)
    finally:
        ray.shutdown()
    assert [p.episodes for p in local.policies] == [p.episodes for p in spread.policies]
    assert spread.config["ray"] is True


@pytest.mark.slow  # loads transformers and the tokenizer
def test_llm_policy_in_the_bench_reports_its_tokens(episodes):
    from memgym.policies.backends import SamplingParams
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.policies.llm_policy import LLMPolicy
    from memgym.policies.models import tiny_model

    model, tokenizer = tiny_model(seed=0)
    policy = LLMPolicy(TransformersBackend(model, tokenizer), SamplingParams(max_new_tokens=4, seed=0))
    tiny = generate_synthetic(
        1,
        seed=0,
        config=SyntheticConfig(
            n_entities=1, facts_per_entity=1, n_sessions=1, turns_per_session=4, max_updates=0
        ),
    )
    result = run_bench([policy], "memgym/MemoryConstruct-v0", tiny, progress=False)
    s = result.summary()["llm"]
    assert 0 < s["tokens_generated"] <= 4 * s["steps"]
    assert (
        s["ops"]["invalid_action"] + sum(s["ops"][k] for k in ("ADD", "UPDATE", "DELETE", "NOOP", "failed"))
        > 0
    )


# ----------------------------------------------------------------------------- protocols
class TopMemoryAgent:
    """A model-free answer agent for data without candidates: answers the best memory's text, and records
    what it was asked (so tests see the protocol's hints)."""

    name = "top-memory"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def answer(self, questions, memories):
        self.asked += [q.question for q in questions]
        return [m[0].text if m else "not mentioned" for m in memories]


def test_every_report_names_its_protocol(small_run):
    result, _, out = small_run
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["protocol"]["name"] == "memgym" and data["config"]["metrics"] == ["em", "f1", "bleu1"]
    assert "Protocol `memgym`" in (out / "report.md").read_text()
    assert "evidence_recall" in result.summary()["oracle"]["overall"]


def test_the_extractive_agent_is_refused_on_data_without_candidates():
    with pytest.raises(ConfigError, match="the extractive answer agent cannot answer this data: none of its"):
        run_bench(["noop"], ENV, FIXTURES / "locomo10_mini.json", progress=False)


def test_cli_refuses_the_extractive_agent_on_benchmark_data(capsys, tmp_path):
    from memgym.cli import main

    code = main(["bench", "--data", str(FIXTURES / "locomo10_mini.json"), "--answer-agent", "extractive",
                 "--policies", "noop", "--out", str(tmp_path), "--no-progress", "--no-plots"])
    assert code == 2 and "abstentions as scores" in capsys.readouterr().err


def test_cli_answer_agent_none_reports_only_memory_metrics(capsys, tmp_path):
    from memgym.cli import main

    code = main(["bench", "--data", str(FIXTURES / "locomo10_mini.json"), "--answer-agent", "none",
                 "--policies", "store_all", "noop", "--out", str(tmp_path), "--no-progress", "--no-plots"])
    assert code == 0
    overall = json.loads((tmp_path / "results.json").read_text())["summary"]["store_all"]["overall"]
    assert overall["n"] > 0 and overall["locomo_f1"] == 0.0  # nothing answers
    assert overall["evidence_recall"] > 0 and overall["answer_support"] > 0  # the memory is still measured


def test_locomo_protocol_hints_and_category_5(tmp_path):
    agent = TopMemoryAgent()
    result = run_bench(["store_all"], ENV, FIXTURES / "locomo10_mini.json", answer_agent=agent, progress=False)
    assert result.config["protocol"]["name"] == "locomo" and result.metric_names == ["locomo_f1"]
    assert any(a.endswith("Use DATE of CONVERSATION to answer with an approximate date.") for a in agent.asked)
    rows = result.policies[0].questions()
    temporal = next(r for r in rows if r["category"] == "temporal")
    assert temporal["asked"].startswith(temporal["question"]) and temporal["asked"] != temporal["question"]
    assert "adversarial" in result.summary()["store_all"]["by_category"]  # LoCoMo counts category 5


def test_mem0_protocol_judges_with_mem0s_prompt(tmp_path):
    from memgym.rewards.judge import LLMJudge

    class Mem0Grader:
        def __init__(self):
            self.prompts = []

        def generate(self, prompts, params=None):
            self.prompts += prompts
            return [Generation('{"label": "correct"}') for _ in prompts]  # Mem0 reads lower case as wrong

    backend = Mem0Grader()
    result = run_bench(["store_all"], ENV, FIXTURES / "locomo10_mini.json", answer_agent=TopMemoryAgent(),
                       protocol="mem0", judge=LLMJudge(backend), progress=False)
    s = result.summary()["store_all"]
    assert result.metric_names == ["mem0_f1", "mem0_bleu1", "j"] and s["overall"]["j"] == 0.0
    assert "adversarial" not in s["by_category"] and result.config["protocol"]["excluded"]["adversarial"] > 0
    assert all(len(p) == 1 and p[0]["role"] == "user" and "one sentence" in p[0]["content"] for p in backend.prompts)
    result.save(tmp_path, plots=False)
    report = (tmp_path / "report.md").read_text()
    assert "Protocol `mem0`" in report and "| F1 (Mem0) | BLEU-1 (Mem0) | J |" in report
    with pytest.raises(ConfigError, match="the locomo protocol has no LLM judge"):
        run_bench(["noop"], ENV, FIXTURES / "locomo10_mini.json", answer_agent=TopMemoryAgent(),
                  judge=LLMJudge(backend), progress=False)


def test_longmemeval_protocol_needs_its_judge():
    with pytest.raises(ConfigError, match="the longmemeval protocol scores answers with its LLM judge only"):
        run_bench(["noop"], ENV, FIXTURES / "longmemeval_s_mini.json", answer_agent=TopMemoryAgent(), progress=False)


@pytest.mark.skipif(not LOCOMO_DEV.exists(), reason="the LoCoMo development conversations are not here")
def test_memory_r1_protocol_on_the_development_conversations(tmp_path):
    result = run_bench(["store_all"], ENV, LOCOMO_DEV, answer_agent=TopMemoryAgent(), protocol="memory-r1",
                       progress=False)
    s = result.summary()["store_all"]
    assert result.config["protocol"]["name"] == "memory-r1" and result.config["protocol"]["part"] == "validation"
    assert s["overall"]["n"] == 81 and "adversarial" not in s["by_category"]  # conv-30 without category 5
    assert result.config["protocol"]["excluded"] == {"adversarial": 24}
    assert 0.0 < s["overall"]["evidence_recall"] <= 1.0 and s["overall"]["answer_support"] is not None
    result.save(tmp_path, plots=False)
    report = (tmp_path / "report.md").read_text()
    assert "Protocol `memory-r1`" in report and "evidence recall" in report and "answer support" in report


def test_a_rerun_bench_reuses_the_policies_it_finished(tmp_path, monkeypatch):
    import memgym.policies.bench.harness as harness

    episodes = synthetic_suite(0, n_per_length=1)
    first = run_bench(["noop", "store_all"], episodes=episodes, progress=False, resume_dir=tmp_path)
    assert sorted(p.name for p in (tmp_path / "finished").iterdir()) == ["noop.json", "store_all.json"]

    def no_rerun(*args, **kwargs):
        raise AssertionError("a finished policy was run again")

    monkeypatch.setattr(harness, "run_policy", no_rerun)
    again = run_bench(["noop", "store_all"], episodes=episodes, progress=False, resume_dir=tmp_path)
    assert again.summary() == first.summary()
    with pytest.raises(AssertionError, match="run again"):  # another seed is another bench: nothing reused
        run_bench(["noop"], episodes=episodes, seed=1, progress=False, resume_dir=tmp_path)
