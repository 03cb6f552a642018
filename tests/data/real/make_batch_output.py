"""Write OpenAI Batch API and vLLM ``run_batch`` output files from their schemas (fixtures for that loader).

Not run through either service.  Schemas:

- OpenAI Batch API output file (the platform's batch guide and the ``/v1/chat/completions`` response
  object): one line per request, ``{"id": "batch_req_...", "custom_id", "response": {"status_code",
  "request_id", "body": <chat.completion>}, "error": null}``; lines are not in input order; a request
  the endpoint rejected has ``response.status_code`` 4xx and ``body.error``; a request that never ran
  (e.g. the batch expired) has ``"response": null`` and ``"error": {"code", "message"}``.  With
  ``n > 1`` a body holds ``choices[0..n-1]``, each ``{"index", "message": {"role", "content",
  "refusal", "annotations"}, "logprobs", "finish_reason"}``.
- vLLM ``python -m vllm.entrypoints.openai.run_batch`` output (``BatchRequestOutput`` in
  ``vllm/entrypoints/openai/run_batch.py``): ``{"id": "vllm-<uuid hex>", "custom_id", "response":
  {"status_code": 200, "request_id": "vllm-batch-<uuid hex>", "body": <ChatCompletionResponse>},
  "error": null}``; vLLM's choices add ``stop_reason`` (and ``token_ids`` etc. when asked); a failed
  request has ``body: null`` and ``error`` a string (``make_error_request_output``).  vLLM writes
  lines in input order; one of its failures is included.

Made up: requests, answers, ids and token counts.

Re-run (from the repository root; replaces tests/data/real/batch_output/):

    /work/main/.venv/bin/python tests/data/real/make_batch_output.py
"""

from __future__ import annotations

import json
import random
import shutil
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent / "batch_output"
PROMPTS = {"request-1": "Suggest a name for a pet turtle.", "request-2": "Give a word that rhymes with moon.",
           "request-3": "Name a city in Peru.", "request-4": "Write a four-word slogan for a bakery."}
ANSWERS = {"request-1": ["Sheldon", "Shelly", "Sheldon", "Tank"], "request-2": ["June", "spoon", "tune", "June"],
           "request-3": ["Cusco", "Arequipa", "Lima", "Lima"], "request-4": ["Fresh bread, warm hearts."] * 2
           + ["Rise and shine daily.", "Baked with love, always."]}
N = 4


def hex_id(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


def openai_body(rng, custom_id: str) -> dict:
    choices = [{"index": i, "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None, "finish_reason": "stop"} for i, text in enumerate(ANSWERS[custom_id][:N])]
    completion_tokens = sum(len(c["message"]["content"].split()) + 1 for c in choices)
    return {"id": f"chatcmpl-{hex_id(rng)[:29]}", "object": "chat.completion", "created": 1767225600,
            "model": "gpt-4o-mini-2024-07-18", "choices": choices,
            "usage": {"prompt_tokens": 14, "completion_tokens": completion_tokens,
                      "total_tokens": 14 + completion_tokens,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0,
                                                    "rejected_prediction_tokens": 0}},
            "service_tier": "default", "system_fingerprint": "fp_0aa8d3e20b"}


def write_openai(rng) -> None:
    lines = []
    for custom_id in ("request-1", "request-2", "request-3"):
        lines.append({"id": f"batch_req_{hex_id(rng)[:24]}", "custom_id": custom_id,
                      "response": {"status_code": 200, "request_id": hex_id(rng), "body": openai_body(rng, custom_id)},
                      "error": None})
    lines.append({"id": f"batch_req_{hex_id(rng)[:24]}", "custom_id": "request-4",
                  "response": {"status_code": 400, "request_id": hex_id(rng), "body": {"error": {
                      "message": "Invalid value for 'n': must be at most 128.", "type": "invalid_request_error",
                      "param": "n", "code": "invalid_value"}}},
                  "error": None})
    lines.append({"id": f"batch_req_{hex_id(rng)[:24]}", "custom_id": "request-5", "response": None,
                  "error": {"code": "batch_expired", "message": "This request could not be executed before the "
                            "completion window expired."}})
    order = [2, 0, 4, 1, 3]  # output lines are not in input order
    HERE.mkdir(parents=True, exist_ok=True)
    (HERE / "openai_batch_output.jsonl").write_text("".join(json.dumps(lines[i]) + "\n" for i in order))


def write_vllm(rng) -> None:
    lines = []
    for custom_id in ("request-1", "request-2", "request-3", "request-4"):
        choices = [{"index": i, "message": {"role": "assistant", "reasoning_content": None, "content": text,
                                            "tool_calls": []},
                    "logprobs": None, "finish_reason": "stop", "stop_reason": None}
                   for i, text in enumerate(ANSWERS[custom_id][:N])]
        completion_tokens = sum(len(c["message"]["content"].split()) + 1 for c in choices)
        body = {"id": f"chatcmpl-{hex_id(rng)}", "object": "chat.completion", "created": 1767225600,
                "model": "Qwen/Qwen2.5-0.5B-Instruct", "choices": choices,
                "usage": {"prompt_tokens": 31, "total_tokens": 31 + completion_tokens,
                          "completion_tokens": completion_tokens, "prompt_tokens_details": None},
                "prompt_logprobs": None, "kv_transfer_params": None}
        lines.append({"id": f"vllm-{hex_id(rng)}", "custom_id": custom_id,
                      "response": {"status_code": 200, "request_id": f"vllm-batch-{hex_id(rng)}", "body": body},
                      "error": None})
    lines.append({"id": f"vllm-{hex_id(rng)}", "custom_id": "request-5",
                  "response": {"status_code": 400, "request_id": f"vllm-batch-{hex_id(rng)}", "body": None},
                  "error": "Only /v1/chat/completions, /v1/embeddings and /v1/score are supported in the batch "
                           "endpoint."})
    (HERE / "vllm_batch_output.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def main() -> None:
    shutil.rmtree(HERE, ignore_errors=True)
    rng = random.Random(0)
    write_openai(rng)
    write_vllm(rng)
    for path in sorted(HERE.iterdir()):
        print(path.name, sum(1 for _ in path.open()))


if __name__ == "__main__":
    main()
