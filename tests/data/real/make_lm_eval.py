"""Write an lm-evaluation-harness ``--log_samples`` output by running lm-eval itself (fixture for its loader).

Library: lm-eval 0.4.13 (``lm_eval run``, the HF backend), on CPU, offline, in a throwaway venv that
borrows the project's torch/transformers/datasets.  The model is a 2-layer GPT-2 (n_embd 32) with a
word-level tokenizer over a 30-word vocabulary, saved to a temporary folder ``tiny-gpt2`` (never
committed); its final layer is set so that every next-token distribution is one fixed unigram
(``UNIGRAM``: mostly "four", "three", "zero", "six", "."), so the 3 repeats of a document often agree,
majority voting can differ from taking the first answer, and exact_match is sometimes 1.
The task is a local YAML (written here, copied next to the output as ``tasks/tiny_arith.yaml``):
4 documents from a local JSONL, ``output_type: generate_until``,
``repeats: 3``, sampling (temperature 1, 1 new token, until " ."), metric ``exact_match``, and
two filters, ``first`` (take_first) and ``maj@3`` (majority_vote, take_first), so each document
appears once per filter in the samples file.

Output (tests/data/real/lm_eval/): ``tiny-gpt2/samples_tiny_arith_<date>.jsonl`` and
``tiny-gpt2/results_<date>.json`` as lm-eval names them under ``--output_path``; the results file is
kept with its environment section cut (``pretty_env_info`` and the like describe this machine, not
the format).

Re-run (from the repository root; replaces tests/data/real/lm_eval/):

    /work/main/.venv/bin/python -m venv /tmp/lmevalvenv
    echo /work/main/.venv/lib/python3.11/site-packages > /tmp/lmevalvenv/lib/python3.11/site-packages/main.pth
    /tmp/lmevalvenv/bin/pip install lm-eval==0.4.13
    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 /tmp/lmevalvenv/bin/python tests/data/real/make_lm_eval.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

HERE = Path(__file__).resolve().parent / "lm_eval"
WORDS = ["<pad>", "<eos>", "<unk>", "Q:", "A:", "what", "is", "plus", "minus", "one", "two", "three", "four",
         "five", "six", "seven", "eight", "nine", "ten", "zero", "the", "answer", ".", "and", "so", "yes", "no",
         "maybe", "it", "be"]
UNIGRAM = {"four": 3.0, "three": 2.5, "zero": 2.0, "six": 2.0, ".": 2.0, "<eos>": 0.5}  # other words: logit 0
DOCS = [
    {"question": "what is three plus one", "answer": "four"},
    {"question": "what is four minus four", "answer": "zero"},
    {"question": "what is two plus two", "answer": "four"},
    {"question": "what is five plus one", "answer": "six"},
]
TASK_YAML = """\
task: tiny_arith
dataset_path: json
dataset_kwargs:
  data_files:
    test: {docs}
test_split: test
output_type: generate_until
doc_to_text: "Q: {{{{question}}}} A:"
doc_to_target: "{{{{answer}}}}"
repeats: 3
generation_kwargs:
  until: [" ."]
  do_sample: true
  temperature: 1.0
  max_gen_toks: 1
filter_list:
  - name: first
    filter:
      - function: take_first
  - name: maj@3
    filter:
      - function: majority_vote
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: true
metadata:
  version: 1.0
"""
ENVIRONMENT_KEYS = ("pretty_env_info", "transformers_version", "lm_eval_version", "upper_git_hash", "git_hash",
                    "date", "start_time", "end_time", "total_evaluation_time_seconds", "model_source")


def write_model(directory: Path) -> None:
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<pad>",
                                        unk_token="<unk>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(WORDS), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        eos_token_id=1, pad_token_id=0, bos_token_id=1, tie_word_embeddings=False)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():  # next-token logits = UNIGRAM whatever the context, so repeats often agree
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        model.lm_head.weight.zero_()
        for word, logit in UNIGRAM.items():
            model.lm_head.weight[WORDS.index(word), 0] = logit
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def main() -> None:
    assert version("lm_eval") == "0.4.13", version("lm_eval")
    shutil.rmtree(HERE, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_model(tmp / "tiny-gpt2")
        tasks = tmp / "tasks"
        tasks.mkdir()
        (tasks / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS))
        (tasks / "tiny_arith.yaml").write_text(TASK_YAML.format(docs="tasks/docs.jsonl"))  # relative to cwd
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   TOKENIZERS_PARALLELISM="false")
        subprocess.run([sys.executable, "-m", "lm_eval", "run", "--model", "hf",
                        "--model_args", "pretrained=tiny-gpt2,dtype=float32", "--device", "cpu",
                        "--include_path", str(tasks), "--tasks", "tiny_arith", "--batch_size", "4",
                        "--seed", "0,1234,1234,1234", "--log_samples", "--output_path", str(HERE)],
                       cwd=tmp, env=env, check=True)
        shutil.copytree(tasks, HERE / "tasks")  # the task as run: tasks/tiny_arith.yaml + tasks/docs.jsonl
    for results in HERE.rglob("results_*.json"):
        data = json.loads(results.read_text())
        for key in ENVIRONMENT_KEYS:
            data.pop(key, None)
        results.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    for path in sorted(HERE.rglob("*")):
        print(path.relative_to(HERE), path.stat().st_size if path.is_file() else "")


if __name__ == "__main__":
    main()
