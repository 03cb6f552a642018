"""Write verifiers ``vf-eval`` results folders by running verifiers' own eval (fixtures for its loader).

Library: verifiers 0.1.12 and 0.3.1 (each in its own throwaway venv), ``vf-eval`` with ``-s``
(save results).  0.3.1 is the last release whose ``vf-eval`` writes ``results.jsonl`` (there as
``verifiers.legacy.scripts.eval``): in 0.4.0 the legacy package is gone and ``vf-eval`` is the v1 CLI,
which writes ``configs/eval.json`` + ``traces.jsonl`` (agent-harness episodes) instead.  0.1.12 keeps
the data set's ``task`` string column in each result row; 0.3.1 refuses a plain-string ``task``
("Plain string task routes are no longer supported") and carries ``info`` instead.

The model is a fake OpenAI-compatible chat server started here on 127.0.0.1 (no other network): it
answers each request with the next answer from a fixed list for that question.  The environment is a
local module ``tiny_qa`` (written to a temporary folder, put on PYTHONPATH): a ``SingleTurnEnv`` over
4 questions (``question``, ``answer``, and ``task`` (0.1.12) or ``info`` (0.3.1)), system prompt
"Answer briefly.", and a rubric of two reward functions (``exact_answer`` weight 1.0, ``brevity``
weight 0.2).  Run: ``vf-eval tiny-qa -m tiny-chat -b http://127.0.0.1:<port>/v1 -k FAKE_API_KEY
-n 4 -r 3 -c 6 -s --disable-tui --disable-env-server -o <fixture>/outputs`` (``--debug`` instead
of ``--disable-tui`` in 0.1.12).

Output (tests/data/real/verifiers/v<version>/): ``outputs/evals/tiny-qa--tiny-chat/<run id>/results.jsonl``
and ``metadata.json``, as vf-eval names them.

Re-run (from the repository root; replaces that version's folder), for V in 0.1.12 and 0.3.1:

    /work/main/.venv/bin/python -m venv /tmp/vf-$V
    echo /work/main/.venv/lib/python3.11/site-packages > /tmp/vf-$V/lib/python3.11/site-packages/main.pth
    /tmp/vf-$V/bin/pip install verifiers==$V
    /tmp/vf-$V/bin/python tests/data/real/make_verifiers.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

VERSION = version("verifiers")
HERE = Path(__file__).resolve().parent / "verifiers" / f"v{VERSION}"
ANSWERS = {  # the fake model's answers to each question, in turn
    "What is the capital of Japan?": ["Tokyo.", "Tokyo", "The capital of Japan is Tokyo."],
    "What is 12 times 3?": ["36", "36", "It is 38."],
    "Name a noble gas.": ["Neon", "Argon", "Neon"],
    "Translate 'gato' to English.": ["cat", "Cat.", "The Spanish word 'gato' means 'cat' in English."],
}
ENV_MODULE = '''\
import {package} as vf
from datasets import Dataset

ROWS = {rows!r}


def exact_answer(completion, answer, **kwargs) -> float:
    text = completion[-1]["content"].lower()
    return 1.0 if answer.lower() in text else 0.0


def brevity(completion, **kwargs) -> float:
    return 1.0 if len(completion[-1]["content"].split()) <= 2 else 0.0


def load_environment(**kwargs):
    dataset = Dataset.from_list(ROWS)
    rubric = vf.Rubric(funcs=[exact_answer, brevity], weights=[1.0, 0.2])
    return vf.SingleTurnEnv(eval_dataset=dataset, system_prompt="Answer briefly.", rubric=rubric)
'''
ROWS = [{"question": "What is the capital of Japan?", "answer": "Tokyo", "topic": "geography"},
        {"question": "What is 12 times 3?", "answer": "36", "topic": "arithmetic"},
        {"question": "Name a noble gas.", "answer": "neon", "topic": "chemistry"},
        {"question": "Translate 'gato' to English.", "answer": "cat", "topic": "language"}]


def rows_for_version() -> list[dict]:
    if VERSION == "0.1.12":
        return [{"question": r["question"], "answer": r["answer"], "task": r["topic"]} for r in ROWS]
    return [{"question": r["question"], "answer": r["answer"], "info": {"topic": r["topic"]}} for r in ROWS]


class FakeChat(BaseHTTPRequestHandler):
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.reply({"object": "list", "data": [{"id": "tiny-chat", "object": "model", "owned_by": "fixture"}]})

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        question = request["messages"][-1]["content"]
        with self.lock:
            turn = self.calls.get(question, 0)
            self.calls[question] = turn + 1
        choices = ANSWERS.get(question, ["I am not sure."])
        content = choices[turn % len(choices)]
        tokens = len(content.split())
        self.reply({"id": f"chatcmpl-fixture-{question[:8].replace(' ', '')}-{turn}", "object": "chat.completion",
                    "created": 1767225600, "model": request.get("model", "tiny-chat"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "logprobs": None, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": tokens, "total_tokens": 20 + tokens}})

    def reply(self, body: dict):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    assert VERSION in ("0.1.12", "0.3.1"), VERSION
    package = "verifiers.legacy" if VERSION == "0.3.1" else "verifiers"
    shutil.rmtree(HERE, ignore_errors=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "tiny_qa.py").write_text(ENV_MODULE.format(package=package, rows=rows_for_version()))
            env = dict(os.environ, PYTHONPATH=tmp, FAKE_API_KEY="not-a-key", HF_HUB_OFFLINE="1",
                       HF_DATASETS_OFFLINE="1", NO_COLOR="1")
            vf_eval = str(Path(sys.executable).with_name("vf-eval"))
            start = time.time()
            subprocess.run([vf_eval, "tiny-qa", "-m", "tiny-chat", "-b", f"http://127.0.0.1:{port}/v1",
                            "-k", "FAKE_API_KEY", "-n", "4", "-r", "3", "-c", "6", "-s",
                            "--disable-tui" if VERSION == "0.3.1" else "--debug",  # plain logs, no Rich display
                            "--disable-env-server", "-o", str(HERE / "outputs")],
                           cwd=tmp, env=env, check=True, timeout=300)
            print(f"vf-eval took {time.time() - start:.1f}s")
    finally:
        server.shutdown()
    for path in sorted(HERE.rglob("*")):
        if path.is_file():
            print(path.relative_to(HERE), path.stat().st_size)


if __name__ == "__main__":
    main()
