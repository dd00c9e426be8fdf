"""Measure memgym's benchmark metrics against the official evaluation code, pair by pair.

The official code is *run*, not re-typed: the functions are read from the official files (the
``--official`` folder) and executed with their heavy, unused imports (bert_score, rouge, sentence
transformers, tiktoken) replaced by stubs. Get the files with::

    git -C <snap-research/locomo> show 9228632:task_eval/evaluation.py > official/locomo_evaluation.py
    git -C <mem0ai/mem0> show 9315e3036^:evaluation/metrics/utils.py > official/mem0_utils.py
    git -C <mem0ai/mem0> show 9315e3036^:evaluation/metrics/llm_judge.py > official/mem0_llm_judge.py
    git -C <mem0ai/mem0> show 9315e3036^:mem0/memory/utils.py > official/mem0_memory_utils.py
    git -C <xiaowu0162/LongMemEval> show HEAD:src/evaluation/evaluate_qa.py > official/lme_evaluate_qa.py
    git -C <HUST-AI-HYZ/MemoryAgentBench> show HEAD:utils/eval_other_utils.py > official/mab_eval_other_utils.py

Pairs: every question of the test fixtures and of the LoCoMo development conversations (when
``--locomo`` points at them), each with simple predictions (the gold itself, re-cased and punctuated,
wrapped in a sentence, its first word, doubled words, another question's gold, abstentions).

    python experiments/protocol_agreement.py --official /tmp/official --locomo ../shared/data/locomo-dev

Prints, per metric, how many pairs differ and by how much, for memgym's former metric and for the new
one, as Markdown.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import tempfile
import types
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]


def _stub_modules() -> None:
    for name in ("bert_score", "rouge_score", "rouge_score.rouge_scorer", "sentence_transformers",
                 "sentence_transformers.util", "tiktoken", "editdistance", "openai", "backoff"):
        module = types.ModuleType(name)
        module.score = None
        module.rouge_scorer = types.SimpleNamespace(RougeScorer=lambda *a, **k: None)
        module.SentenceTransformer = lambda *a, **k: None
        module.pytorch_cos_sim = None
        module.eval = None
        module.OpenAI = None
        sys.modules.setdefault(name, module)


def _functions(path: Path, names: set[str], extra: dict | None = None, imports: bool = True) -> dict:
    """Execute only the imports and the named top-level functions (and assignments) of an official file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    keep = [n for n in tree.body if (imports and isinstance(n, (ast.Import, ast.ImportFrom)))
            or (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names)
            or (isinstance(n, ast.Assign) and any(getattr(t, "id", "") in names for t in n.targets))]
    namespace: dict = dict(extra or {})
    exec(compile(ast.Module(keep, []), str(path), "exec"), namespace)  # noqa: S102  (the official code)
    return namespace


def pairs(locomo: Path | None) -> list[tuple[str, str, int, list[str]]]:
    """(prediction, gold, LoCoMo category number, evidence) for every question, several predictions each."""
    from memgym.envs.data import load_episodes
    from memgym.rewards.metrics import locomo_category

    sources = [ROOT / "tests/fixtures/data/locomo10_mini.json"]
    if locomo is not None and locomo.exists():
        sources.append(locomo)
    golds = []
    for source in sources:
        for ep in load_episodes(source, format="locomo"):
            wrong = json.loads(ep.metadata.get("adversarial_answers", "{}"))
            for q in ep.questions:
                gold = wrong.get(q.id, q.answers[0]) if q.category == "adversarial" else q.answers[0]
                golds.append((gold, locomo_category(q.category) or 4, list(q.evidence)))
    out = []
    for i, (gold, cat, evidence) in enumerate(golds):
        other = golds[(i + 7) % len(golds)][0]
        first = gold.split()[0] if gold.split() else gold
        for pred in (gold, gold.upper() + ".", f"It was {gold}, I think.", first, f"{first} {first}",
                     other, "I don't know", "Not mentioned in the conversation", f"The {gold}! The end. Yes",
                     f"{gold}\nAnswer: {first}", ""):
            out.append((pred, gold, cat, evidence))
    return out


def compare(name: str, ours: list[float], theirs: list[float]) -> str:
    diffs = [abs(a - b) for a, b in zip(ours, theirs, strict=True)]
    differ = sum(d > 1e-12 for d in diffs)
    signed = mean(a - b for a, b in zip(ours, theirs, strict=True))
    return f"| {name} | {len(diffs)} | {differ} ({100 * differ / len(diffs):.1f}%) | {max(diffs):.3g} | {signed:+.4f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", type=Path, required=True)
    parser.add_argument("--locomo", type=Path)
    args = parser.parse_args()
    _stub_modules()
    sys.path.insert(0, str(ROOT.parent))
    from memgym.envs.episode import Question
    from memgym.rewards.metrics import bleu1, exact_match, locomo_em, locomo_f1, token_f1
    from memgym.rewards.protocols.mem0 import mem0_bleu1, mem0_exact_match, mem0_f1
    from memgym.rewards.protocols.memoryagentbench import mab_scores

    data = pairs(args.locomo)
    print(f"{len(data)} pairs\n")
    print("| metric (memgym vs official) | pairs | differ | max abs diff | mean (memgym - official) |")
    print("|---|---:|---:|---:|---:|")
    rows = []

    # LoCoMo: run eval_question_answering itself on a file of the pairs
    loc = _functions(args.official / "locomo_evaluation.py",
                     {"normalize_answer", "f1_score", "f1", "exact_match_score", "eval_question_answering",
                      "ps", "LENGTH_THRESHOLD"},
                     {})
    from nltk.stem import PorterStemmer

    loc["ps"] = PorterStemmer()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"qa": [{"answer": g, "category": c, "prediction": p, "evidence": e} for p, g, c, e in data]}, f)
    official_f1, _, _ = loc["eval_question_answering"](f.name, "prediction")
    rows.append(compare("locomo_f1", [locomo_f1(p, g, c) for p, g, c, _ in data], official_f1))
    official_em = [float(loc["exact_match_score"](p, g)) for p, g, _, _ in data]
    rows.append(compare("locomo_em", [locomo_em(p, g) for p, g, _, _ in data], official_em))
    no5 = [(p, g, c) for p, g, c, _ in data if c != 5]
    off5 = [s for s, (_, _, c, _) in zip(official_f1, data, strict=True) if c != 5]
    rows.append(compare("former em (SQuAD) vs LoCoMo EM, cat 1-4", [exact_match(p, g) for p, g, _ in no5],
                        [float(loc["exact_match_score"](p, g)) for p, g, _ in no5]))
    rows.append(compare("LoCoMo F1 on cat 1-4 (control)", [locomo_f1(p, g, c) for p, g, c in no5], off5))

    # Mem0: calculate_metrics (F1, EM) and its BLEU-1 with word_tokenize = memgym's Punkt substitute
    m0 = _functions(args.official / "mem0_utils.py", {"simple_tokenize", "calculate_metrics", "calculate_bleu_scores"})
    from memgym.rewards import tokenization

    m0["nltk"] = types.SimpleNamespace(word_tokenize=tokenization.word_tokenize)
    official = [m0["calculate_metrics"](p, g) for p, g, _ in no5]
    rows.append(compare("mem0_f1", [mem0_f1(p, g) for p, g, _ in no5], [o["f1"] for o in official]))
    rows.append(compare("mem0_em", [mem0_exact_match(p, g) for p, g, _ in no5], [float(o["exact_match"]) for o in official]))
    rows.append(compare("mem0_bleu1 (Punkt substitute in both)", [mem0_bleu1(p, g) for p, g, _ in no5],
                        [m0["calculate_bleu_scores"](p, g)["bleu1"] for p, g, _ in no5]))
    rows.append(compare("former f1 (SQuAD) vs Mem0 F1", [token_f1(p, g) for p, g, _ in no5], [o["f1"] for o in official]))
    rows.append(compare("former em (SQuAD) vs Mem0 EM", [exact_match(p, g) for p, g, _ in no5],
                        [float(o["exact_match"]) for o in official]))
    rows.append(compare("former bleu1 vs Mem0 BLEU-1", [bleu1(p, g) for p, g, _ in no5],
                        [m0["calculate_bleu_scores"](p, g)["bleu1"] for p, g, _ in no5]))
    from nltk.tokenize import NLTKWordTokenizer

    treebank = NLTKWordTokenizer()
    m0["nltk"] = types.SimpleNamespace(word_tokenize=treebank.tokenize)
    rows.append(compare("mem0_bleu1 vs Treebank without sentence split", [mem0_bleu1(p, g) for p, g, _ in no5],
                        [m0["calculate_bleu_scores"](p, g)["bleu1"] for p, g, _ in no5]))
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    bare = PunktSentenceTokenizer()  # Punkt's algorithm with no abbreviations at all

    def bare_tokenize(text: str) -> list[str]:
        return [t for sentence in bare.tokenize(text) for t in treebank.tokenize(sentence)]

    m0["nltk"] = types.SimpleNamespace(word_tokenize=bare_tokenize)
    rows.append(compare("mem0_bleu1 vs Punkt without any abbreviation", [mem0_bleu1(p, g) for p, g, _ in no5],
                        [m0["calculate_bleu_scores"](p, g)["bleu1"] for p, g, _ in no5]))

    # evidence recall: LoCoMo's recall_acc (eval_question_answering, turn-level contexts) on the raw
    # released evidence, against memgym's on the loaded (unpacked) evidence; contexts = half the evidence
    from memgym.rewards.memory_metrics import evidence_all, evidence_recall

    if args.locomo is not None and args.locomo.exists():
        from memgym.envs.data import load_episodes

        raw = [q for f in sorted(args.locomo.glob("*.json")) for q in json.loads(f.read_text())["qa"]]
        eps = load_episodes(args.locomo, format="locomo")
        loaded = [q for ep in eps for q in ep.questions]
        lines, ours, former = [], [], []
        for raw_q, q in zip(raw, loaded, strict=True):
            context = [*q.evidence[: max(1, len(q.evidence) // 2)], "D99:99"]
            lines.append({"answer": str(raw_q.get("answer", "")), "category": raw_q["category"], "prediction": "x",
                          "prediction_context": context, "evidence": raw_q.get("evidence", [])})
            ours.append(evidence_recall(q.evidence, set(context)))
            former.append(evidence_all(q.evidence, set(context)))
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"qa": lines}, f)
        _, _, official_recall = loc["eval_question_answering"](f.name, "prediction")
        rows.append(compare("evidence_recall (LoCoMo)", ours, official_recall))
        kept = [v for v in former if v is not None]
        rows.append(f"| former evidence_recall (all-or-nothing, no-evidence skipped): mean {mean(kept):.4f} over "
                    f"{len(kept)} questions vs LoCoMo's {mean(official_recall):.4f} over {len(official_recall)} | | | | |")

    # memgym's former abstention rule vs LoCoMo's on category 5
    from memgym.envs.episode import ABSTAIN_ANSWER
    from memgym.rewards.metrics import METRICS

    cat5 = [(p, g) for p, g, c, _ in data if c == 5]
    q5 = Question("q", "?", [ABSTAIN_ANSWER], "adversarial")
    former = METRICS.get("em")
    rows.append(compare("former abstention rule vs LoCoMo's (cat 5)", [former(p, q5) for p, _ in cat5],
                        [s for s, (_, _, c, _) in zip(official_f1, data, strict=True) if c == 5]))

    # MemoryAgentBench: post_process itself, per sub-task
    mab = _functions(args.official / "mab_eval_other_utils.py",
                     {"normalize_answer", "f1_score", "drqa_exact_match_score", "substring_exact_match_score",
                      "drqa_metric_max_over_ground_truths", "parse_output", "calculate_metrics", "post_process",
                      "_process_icl_dataset", "_process_eventqa_dataset", "_process_infbench_longmemeval_dataset",
                      "_process_choice_eng_dataset", "_process_ruler_memory_merging_dataset", "default_post_process"})
    mab["rouge_scorer_instance"] = types.SimpleNamespace(rouge_types=[], score=lambda **k: {})
    for subtask in ("eventqa_full", "icl_banking77", "ruler_qa1_197K", "ruler_niah_mk", "factconsolidation_sh_6k", "detective_qa"):
        ours, theirs = {}, {}
        for p, g, _ in no5:
            official_row, _ = mab["post_process"]({"output": p}, [g], {"sub_dataset": subtask})
            mine = mab_scores(p, [g], subtask)
            for key, official_key in (("mab_em", "exact_match"), ("mab_f1", "f1"),
                                      ("mab_substring_em", "substring_exact_match"),
                                      ("mab_eventqa_recall", "eventqa_recall"), ("mab_ruler_recall", "ruler_recall")):
                if official_key in official_row:
                    ours.setdefault(key, []).append(float(mine[key]))
                    theirs.setdefault(key, []).append(float(official_row[official_key]))
        for key in ours:
            rows.append(compare(f"{key} [{subtask}]", ours[key], theirs[key]))
    print("\n".join(rows))

    # judges: prompts and parsing
    from memgym.rewards.judge import JudgeItem
    from memgym.rewards.protocols.longmemeval import build_longmemeval_judge_prompt, parse_longmemeval_verdict
    from memgym.rewards.protocols.mem0 import build_mem0_judge_prompt, parse_mem0_verdict

    lme = _functions(args.official / "lme_evaluate_qa.py", {"get_anscheck_prompt"})
    same = [
        lme["get_anscheck_prompt"](t, "Q?", "A", "R", abstention=a)
        == build_longmemeval_judge_prompt(JudgeItem("Q?", "A", "R", t, a))[0]["content"]
        for t in ("single-session-user", "single-session-assistant", "multi-session", "temporal-reasoning",
                  "knowledge-update", "single-session-preference") for a in (False, True)
    ]
    replies = ["Yes.", "no", "YES, it is", "The answer is no", "eyes", ""]
    print(f"\nLongMemEval judge prompts identical: {sum(same)}/{len(same)}; verdicts identical: "
          f"{sum(parse_longmemeval_verdict(r) == float('yes' in r.strip().lower()) for r in replies)}/{len(replies)}")
    judge = _functions(args.official / "mem0_llm_judge.py", {"ACCURACY_PROMPT"}, imports=False)
    extract = _functions(args.official / "mem0_memory_utils.py", {"extract_json"}, {"re": __import__("re")},
                         imports=False)["extract_json"]
    official_prompt = judge["ACCURACY_PROMPT"].format(question="Q?", gold_answer="A", generated_answer="R")
    print(f"Mem0 judge prompt identical: {official_prompt == build_mem0_judge_prompt(JudgeItem('Q?', 'A', 'R'))[0]['content']}")
    mem0_replies = ['{"label": "CORRECT"}', '{"label":"correct"}', '```json\n{"label": "WRONG"}\n```',
                    'It matches. {"reasoning": "same", "label": "CORRECT"}', '{"label": "CORRECT."}']
    agree = 0
    for reply in mem0_replies:
        official_value = 1.0 if json.loads(extract(reply))["label"] == "CORRECT" else 0.0
        agree += parse_mem0_verdict(reply) == official_value
    print(f"Mem0 judge verdicts identical: {agree}/{len(mem0_replies)}")


if __name__ == "__main__":
    main()
