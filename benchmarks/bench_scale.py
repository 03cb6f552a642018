"""Time and peak memory of ``rollout-diversity score`` (and ``report``) on synthetic logs of 100k, 1M and 10M rollouts.

    .venv/bin/python benchmarks/bench_scale.py                       # 100k, 1M, 10M; Ray at 1M; report at 1M
    .venv/bin/python benchmarks/bench_scale.py --sizes 100000 1000000 --no-ray --no-report
    .venv/bin/python benchmarks/bench_scale.py --sizes 1000000 --ray-only
    .venv/bin/python benchmarks/bench_scale.py --report-only --report-sizes 1000000 10000000

Each log is written to disk first, outside the timing: canonical JSONL shards
of 100,000 rollouts (a step of 512 prompts is 4,096 rollouts), groups of G = 8
answers of 40-120 words in the ``prose`` vocabulary of bench_metrics.py (UTF-8,
a third of the groups partly collapsed onto repeated answers). Then one
``rollout-diversity score LOG --out X --embedder hashing`` (default metrics:
the five lexical ones and the embedding ones on hashing vectors) runs in a
fresh process per size; its wall time and peak resident memory (``wait4``) are
reported with its CPU time (user + system, of the process and its threads),
each per rollout and relative to the smallest size, and the 5-minute load
average of the machine. On a shared machine the CPU time is the steadier
measure of how the work scales. The log and the scores are deleted after each size.

Ray (``--engine ray``, the same command) runs at 1M on a local Ray instance
started by the command, beside the local engine on the same log (timed again
when the sizes did not include it, the two files compared to the largest
difference); Ray's start-up (``ray.init`` and a first tiny dataset, then
shutdown) is timed on its own. Peak memory is the driver's only: Ray's workers
and object store are other processes.

``report`` (``rollout-diversity report LOG --out X.html --embedder hashing``,
default ``--chunk-rows``) runs at each of ``--report-sizes`` (default 1M) right
after ``score`` on the same log, each in a fresh process: time, CPU time, peak
RSS and the page's size, and report / score for each.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
from bench_metrics import ENDINGS, WORDS, vocabulary  # this folder's metrics benchmark: its prose vocabulary

REPO = Path(__file__).resolve().parents[1]
SHARD = 100_000
GROUP = 8
STEP_PROMPTS = 512


def write_log(folder: Path, rollouts: int, seed: int = 0) -> int:
    """Write ``rollouts`` synthetic rollouts as JSONL shards into ``folder``; returns the bytes written."""
    rng = np.random.default_rng(seed)
    words = vocabulary("prose")
    # Each token is " word": a text is its tokens back to back, then an ending; the leading space is stripped.
    tokens = [(" " + w).encode("utf-8") for w in words] + [e.encode("utf-8") for e in ENDINGS]
    token_bytes = np.frombuffer(b"".join(tokens), dtype=np.uint8)
    token_len = np.array([len(t) for t in tokens])
    token_start = np.concatenate([[0], np.cumsum(token_len)[:-1]])
    zipf = np.cumsum(np.arange(1, WORDS + 1) ** -1.3)  # word k with probability ~ k^-1.3 (Zipf), as bench_metrics
    zipf /= zipf[-1]
    folder.mkdir(parents=True, exist_ok=True)
    for shard, first in enumerate(range(0, rollouts, SHARD)):
        n = min(SHARD, rollouts - first)
        lengths = rng.integers(40, 121, n)
        ids = np.searchsorted(zipf, rng.random(int(lengths.sum())))  # (T,) word of each token
        ends = np.cumsum(lengths)
        ids = np.insert(ids, ends, WORDS + (np.arange(n) % len(ENDINGS)))  # an ending after each text's words
        sizes = token_len[ids]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        # Byte k of the log is byte at[k] of token_bytes: +1 within a token, a jump to the next token's start.
        step = np.ones(offsets[-1], dtype=np.int32)
        step[0] = token_start[ids[0]]
        step[offsets[1:-1]] = token_start[ids[1:]] - (token_start[ids[:-1]] + sizes[:-1] - 1)
        at = np.cumsum(step, dtype=np.int32)
        text_end = offsets[np.cumsum(lengths + 1)]
        data = pa.py_buffer(token_bytes[at].tobytes())
        array = pa.LargeStringArray.from_buffers(n, pa.py_buffer(np.concatenate([[0], text_end]).astype(np.int64)), data)
        texts = pl.Series("response", array).str.strip_chars_start()
        row = first + np.arange(n)
        group, member = row // GROUP, row % GROUP
        # A third of the groups are partly collapsed: an answer repeats an earlier one of its group.
        repeat = (group % 3 == 0) & (member > 0) & (rng.random(n) < 0.6)
        source = np.where(repeat, row - member + rng.integers(0, np.maximum(member, 1)), row) - first
        frame = pl.DataFrame({
            "lineage": "synthetic", "phase": "1", "step": group // STEP_PROMPTS, "prompt_id": group % 5000,
            "response": texts.gather(source), "reward": (rng.random(n) < 0.5).astype(np.float64),
            "entropy": rng.random(n), "n_tokens": lengths, "split": "train", "task": "A",
        })
        frame.select(
            "lineage", "phase", "step", pl.col("prompt_id").cast(pl.String).str.zfill(5).alias("group_id"),
            pl.format("Question {}: write a short answer.", "prompt_id").alias("prompt"),
            pl.exclude("lineage", "phase", "step", "prompt_id"),
        ).write_ndjson(folder / f"part-{shard:05d}.jsonl")
    return sum(p.stat().st_size for p in folder.iterdir())


def run_command(args: list[str]) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS GB, stderr) of one ``rollout-diversity ARGS`` in a fresh process."""
    command = [sys.executable, "-m", "rollout_cli", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args[0]} failed ({' '.join(command)}):\n{stderr}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024**2, stderr


def run_score(log: Path, out: Path, engine: str) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS GB, stderr) of one ``score`` run in a fresh process."""
    return run_command(["score", str(log), "--out", str(out), "--embedder", "hashing", "--no-progress",
                        "--engine", engine])


def ray_startup() -> float:
    """Seconds for ``ray.init`` (local), one tiny dataset and ``ray.shutdown``, in a fresh process."""
    code = ("import time, ray; t = time.perf_counter(); ray.init(include_dashboard=False, log_to_driver=False); "
            "import ray.data; ray.data.range(8).map_batches(lambda b: b).materialize(); ray.shutdown(); "
            "print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--ray-size", type=int, default=1_000_000, help="rollouts for local vs Ray (default 1M)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    parser.add_argument("--ray-only", action="store_true", help="only local vs Ray at --ray-size")
    parser.add_argument("--report-sizes", type=int, nargs="+", default=[1_000_000],
                        help="rollouts for report against score (default 1M)")
    parser.add_argument("--no-report", action="store_true", help="skip the report runs")
    parser.add_argument("--report-only", action="store_true", help="only report against score at --report-sizes")
    parser.add_argument("--folder", default=None, help="where to write the logs (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.folder))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, polars {pl.__version__}; "
          f"load average {os.getloadavg()[0]:.1f}; logs in {work}")
    try:
        base, local = None, {}
        sizes = [] if args.ray_only or args.report_only else args.sizes
        if sizes:
            print(f"{'rollouts':>12} {'log GB':>7} {'wall s':>8} {'wall us/r':>9} {'vs first':>8} {'CPU s':>8} "
                  f"{'CPU us/r':>8} {'vs first':>8} {'peak RSS GB':>11} {'load':>5}")
        for size in sizes:
            log = work / f"log-{size}"
            gigabytes = write_log(log, size) / 1024**3
            seconds, cpu, peak, _ = run_score(log, work / "scores.parquet", "local")
            local[size] = seconds
            per, cpu_per = seconds / size * 1e6, cpu / size * 1e6
            base = base or (per, cpu_per)
            print(f"{size:>12,} {gigabytes:>7.2f} {seconds:>8.1f} {per:>9.1f} {per / base[0]:>7.2f}x {cpu:>8.1f} "
                  f"{cpu_per:>8.1f} {cpu_per / base[1]:>7.2f}x {peak:>11.2f} {os.getloadavg()[1]:>5.1f}", flush=True)
            if not (size == args.ray_size and not args.no_ray):
                shutil.rmtree(log)
            (work / "scores.parquet").unlink()
        if not (args.no_ray or args.report_only):
            compare_ray(work, args.ray_size, local.get(args.ray_size))
        if not (args.no_report or args.ray_only):
            for size in args.report_sizes:
                compare_report(work, size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compare_ray(work: Path, size: int, local: float | None) -> None:
    """Ray's time at ``size`` rollouts against the local engine's (``local`` seconds, measured here when None),
    and the largest difference between their scores."""
    log = work / f"log-{size}"
    if not log.exists():
        write_log(log, size)
    startup = ray_startup()
    local_file, ray_file = work / "local.parquet", work / "ray.parquet"
    measured = run_score(log, local_file, "local")[0]
    seconds, _, peak, stderr = run_score(log, ray_file, "ray")
    local = local or measured
    print(f"\nRay at {size:,} rollouts: {seconds:.1f} s, local {local:.1f} s: Ray / local = {seconds / local:.2f}; "
          f"Ray's start-up alone (init, a first tiny dataset, shutdown) {startup:.1f} s; driver peak RSS {peak:.2f} GB")
    a, b = pl.read_parquet(local_file), pl.read_parquet(ray_file)
    numbers = [c for c, dtype in a.schema.items() if dtype == pl.Float64]
    same_keys = a.drop(numbers).equals(b.drop(numbers))
    diff = max((a[c] - b[c]).abs().max() or 0.0 for c in numbers)
    print(f"  same groups and columns: {same_keys and a.columns == b.columns}; largest |local - Ray| = {diff:.1e}")
    for line in stderr.splitlines():
        if line.startswith("ray:"):
            print("  " + line)
    shutil.rmtree(log)


def compare_report(work: Path, size: int) -> None:
    """``score`` and then ``report`` of one log of ``size`` rollouts, each in a fresh process."""
    log = work / f"log-{size}"
    if not log.exists():
        write_log(log, size)
    scores, page = work / "report-scores.parquet", work / "report.html"
    print(f"\nreport against score at {size:,} rollouts (load average {os.getloadavg()[1]:.1f}):")
    print(f"  {'command':>7} {'wall s':>8} {'CPU s':>8} {'CPU us/r':>8} {'peak RSS GB':>11}")
    measured = {}
    for name, args in (("score", ["score", str(log), "--out", str(scores)]),
                       ("report", ["report", str(log), "--out", str(page)])):
        seconds, cpu, peak, _ = run_command([*args, "--embedder", "hashing", "--no-progress"])
        measured[name] = (seconds, cpu, peak)
        print(f"  {name:>7} {seconds:>8.1f} {cpu:>8.1f} {cpu / size * 1e6:>8.1f} {peak:>11.2f}", flush=True)
    (s_wall, s_cpu, s_peak), (r_wall, r_cpu, r_peak) = measured["score"], measured["report"]
    print(f"  report / score: wall {r_wall / s_wall:.2f}, CPU {r_cpu / s_cpu:.2f}, peak {r_peak / s_peak:.2f}; "
          f"page {page.stat().st_size / 1024**2:.1f} MB; load average {os.getloadavg()[1]:.1f}")
    scores.unlink()
    page.unlink()
    shutil.rmtree(log)


if __name__ == "__main__":
    main()
