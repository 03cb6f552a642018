"""Fuzz the loaders: mutate valid files of every format and feed each to the loader and to ``inspect``.

    .venv/bin/python benchmarks/fuzz_loaders.py                          # 10,000 mutations per format
    .venv/bin/python benchmarks/fuzz_loaders.py --per-format 300 --seed 1 --workers 2
    .venv/bin/python benchmarks/fuzz_loaders.py --replay verl:17         # one case again, in this process

The valid files (seeds) are written here (canonical as JSONL, Parquet and
CSV; TRL; verl; NoveltyBench) and taken from ``data/demo/`` and from the
real-library fixtures in ``tests/data/real/`` (every format the registry has:
SkyRL, slime's torch files, lm-eval, batch output, verifiers, tables as JSONL,
CSV, Parquet and a ``save_to_disk`` Arrow folder, and TRL, verl and
NoveltyBench as their libraries wrote them). Each case applies one
mutation, chosen by a generator seeded with (``--seed``, format, case
number), so a case is reproducible from its name: byte flips, truncation,
duplicated and deleted lines or rows, a field's type swapped (at the top or
nested), huge numbers, deep nesting, invalid UTF-8, a line replaced by
another JSON value, a splice of two files; for Parquet and Arrow a damaged
footer and columns rewritten with other types, encodings and compressions;
for torch files the unpickled values changed (a payload of another shape,
one value shared a billion times, an object whose unpickling would run
code). A mutated file keeps its folder's and its own name (SkyRL's step, an
lm-eval task, slime's rollout id come from them); a quarter of the cases read
the whole folder, the mutated file beside its seed's unmutated neighbours,
so the formats' looks across files (TRL's re-logged batches, NoveltyBench's
prompts read once, verl's oversized groups) and the joining of files run too. The load options are drawn
too (``--format`` forced or auto, ``--group-size``, ``--on-bad-row``, a
table's ``--columns``).

Each mutated file goes to ``read_rollouts`` and to ``inspect`` (its ``main()``
in the worker, output captured), with the same options. The outcomes allowed:

- ``loaded``: a table, every record counted (read = kept + skipped + dropped
  + de-duplicated, frame rows = the reports' rows), and ``inspect`` exits 0;
- ``error``: a ``DiversityError`` whose message is one line, and ``inspect``
  exits 2 printing exactly one line ``rollout-diversity inspect: error: ...``.

Anything else is a finding: another exception, a traceback, a library's
warning on ``inspect``'s stderr, the two disagreeing, a case running past
``--timeout`` seconds (the worker is killed), a worker dying (a crash), a
case whose peak resident memory passes ``--memory-mb`` (measured per case
from the kernel's high-water mark; the parent also kills a worker whose
memory passes it mid-case), or code from a torch file having run. The
summary's last line gives the largest peak. Findings are printed with their
case name; the exit status is 1 when there is any, or when a registered
format has no seed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import multiprocessing
import random
import re
import resource
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.fuzz_mutations import CODE_RAN, mutate  # noqa: E402

# Seeds read with options of their own: a table of your own columns is one only with a mapping.
USER_COLUMNS = {"prompt": "question", "response": "answer", "group_id": "uid", "step": "iteration", "reward": "score"}
SEED_OPTIONS = {"user_columns.jsonl": {"columns": USER_COLUMNS}, "user_columns.csv": {"columns": USER_COLUMNS}}
TRL_GROUP = 4  # num_generations of the written and the real TRL seeds
PYTHON_WARNING = re.compile(r"^\S+:\d+: \w*Warning: ", re.MULTILINE)  # how warnings.showwarning begins a line
FOLDER_SHARE = 0.25  # the cases that read the mutated file's folder, its unmutated neighbours beside it
IN_FOLDER = " (folder)"  # how such a case's mutation is named

def write_seeds(folder: Path) -> dict[str, list[Path]]:
    """Valid files of every format, by format name: written here, plus the shipped demo logs."""
    import polars as pl

    from diversity.load import read_rollouts

    def jsonl(path: Path, rows: list[dict]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return path

    canonical = [
        {"lineage": "grpo", "phase": "1", "step": step, "group_id": f"g{p}", "prompt": f"prompt {p} ünï",
         "response": f"answer {p} {i} at {step}" + " ✓" * i, "reward": 0.5 * i, "entropy": 1.25, "n_tokens": 5,
         "split": ("train", "eval")[p % 2], "task": "A", "extra_list": [i, p], "extra_map": {"k": str(i)}}
        for step in (0, 10) for p in range(2) for i in range(3)
    ]
    flat = [{k: v for k, v in r.items() if not k.startswith("extra")} for r in canonical]
    seeds = {
        "canonical": [jsonl(folder / "canonical" / "rollouts.jsonl", canonical)],
        "trl": [], "verl": [], "noveltybench": [],
    }
    pl.DataFrame(canonical).write_parquet(folder / "canonical" / "rollouts.parquet")
    pl.DataFrame(flat).write_csv(folder / "canonical" / "rollouts.csv")
    seeds["canonical"] += [folder / "canonical" / "rollouts.parquet", folder / "canonical" / "rollouts.csv"]
    trl = folder / "trl" / "completions" / "completions_00005.parquet"
    trl.parent.mkdir(parents=True)
    pl.DataFrame([
        {"step": 5, "prompt": f"q{p}", "completion": f"c{p}-{i}", "accuracy": float(i % 2), "format": 0.25,
         "advantage": 0.1 * i} for p in range(3) for i in range(4)
    ]).write_parquet(trl)
    seeds["trl"].append(trl)
    seeds["verl"].append(jsonl(folder / "verl" / "7.jsonl", [
        {"input": f"q{p}", "output": f"o{p}-{i}", "score": float(i == 0), "step": 7, "gts": "x", "acc": True}
        for i in range(3) for p in range(2)
    ]))
    seeds["noveltybench"].append(jsonl(folder / "noveltybench" / "generations.jsonl", [
        {"id": "a", "prompt": "Tell a joke.", "model": "m", "generations": ["j1", "j2", "j3"]},
        {"id": "b", "prompt": "Name a colour.", "model": "m", "generations": ["red", "red"]},
    ]))
    for path in sorted((REPO / "data" / "demo").rglob("*")) + real_seeds():
        if path.is_file():
            report, = read_rollouts(path, group_size=TRL_GROUP, **SEED_OPTIONS.get(path.name, {})).files
            seeds.setdefault(report.format, []).append(path)
    return seeds


def real_seeds() -> list[Path]:
    """Every file of tests/data/real/ the loader reads as rollouts (not the pickled-class dump it refuses)."""
    from diversity.load import read_rollouts
    from diversity.load.records import SUFFIXES, TORCH_SUFFIX
    from rollout_common.errors import InputError

    chosen = []
    for path in sorted((REPO / "tests" / "data" / "real").rglob("*")):
        if path.is_file() and (path.suffix in SUFFIXES or path.suffix == TORCH_SUFFIX):
            try:
                read_rollouts(path, group_size=TRL_GROUP, **SEED_OPTIONS.get(path.name, {}))
            except InputError:
                continue
            chosen.append(path)
    return chosen


# ---------------------------------------------------------------- one case, in a worker


def case_options(format_name: str, source: Path, rng: random.Random) -> tuple[dict, list[str]]:
    """(LoadOptions fields, the same as inspect flags) drawn for one case."""
    from diversity.load.formats import FORMATS

    fmt = rng.choice(["auto"] * 8 + [format_name] * 2 + list(FORMATS))
    group_size = rng.choice([4, 4, 4, 3, 1, None]) if format_name == "trl" else rng.choice([None, None, None, 2])
    on_bad_row = rng.choice(["error", "skip"])
    options = {"format": fmt, "group_size": group_size, "on_bad_row": on_bad_row}
    flags = ["--format", fmt, "--on-bad-row", on_bad_row] + (["--group-size", str(group_size)] if group_size else [])
    columns = SEED_OPTIONS.get(source.name, {}).get("columns")
    if columns and rng.random() < 0.9:
        options["columns"] = columns
        flags += ["--columns", ",".join(f"{field}={column}" for field, column in columns.items())]
    return options, flags


def check_load(path: Path, options: dict) -> tuple[str, str]:
    """('loaded' | 'error' | 'finding', detail) of read_rollouts on the file."""
    from diversity.load import read_rollouts
    from rollout_common.errors import DiversityError

    try:
        result = read_rollouts(path, **options)
    except DiversityError as error:
        if "\n" in str(error):
            return "finding", f"a DiversityError of several lines: {str(error)[:300]!r}"
        return "error", f"{type(error).__name__}: {error}"
    except Exception as error:  # noqa: BLE001 - what the fuzzer is looking for
        return "finding", f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
    for report in result.files:
        if report.read != report.kept + report.skipped + report.dropped + report.deduplicated:
            return "finding", f"records unaccounted for: {report}"
    if result.frame.height != sum(r.rows for r in result.files):
        return "finding", f"frame has {result.frame.height} rows, the reports {sum(r.rows for r in result.files)}"
    return "loaded", f"{result.frame.height} rows, {result.skipped} skipped"


def check_inspect(path: Path, flags: list[str]) -> tuple[str, str]:
    """('loaded' | 'error' | 'finding', detail) of ``rollout-diversity inspect`` on the file."""
    from rollout_cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["inspect", str(path), *flags])
    except BaseException as error:  # noqa: BLE001 - SystemExit from argparse included
        return "finding", f"inspect raised {type(error).__name__}: {error}\n{traceback.format_exc()}"
    lines = err.getvalue().splitlines()
    if "Traceback" in err.getvalue() + out.getvalue():
        return "finding", f"inspect printed a traceback: {err.getvalue()[-2000:]}"
    if PYTHON_WARNING.search(err.getvalue()):
        return "finding", f"inspect printed a library's warning: {err.getvalue()[-1000:]}"
    if status == 0:
        return "loaded", ""
    if status == 2 and len(lines) == 1 and lines[0].startswith("rollout-diversity inspect: error: "):
        return "error", lines[0]
    return "finding", f"inspect exited {status} with stderr {err.getvalue()[-1000:]!r}"


def run_case(seeds: dict[str, list[Path]], name: str, seed: int, folder: Path) -> tuple[str, str, str]:
    """(mutation, outcome, detail) of one case ``FORMAT:NUMBER``."""
    format_name, number = name.rsplit(":", 1)
    rng = random.Random(f"{seed}:{name}")
    source = seeds[format_name][int(number) % len(seeds[format_name])]
    others = [p for paths in seeds.values() for p in paths]
    mutation, data = mutate(source, rng, others)
    case_folder = folder / f"case{number}"
    path = case_folder / source.parent.name / source.name  # its folder's name says things (a step, a split)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    options, flags = case_options(format_name, source, rng)
    target = path
    if rng.random() < FOLDER_SHARE:  # beside its unmutated neighbours: the formats' looks across files run too
        for neighbour in sorted(set(others)):
            if neighbour.parent == source.parent and neighbour != source:
                shutil.copyfile(neighbour, path.parent / neighbour.name)
        target, mutation = path.parent, f"{mutation}{IN_FOLDER}"
    CODE_RAN.unlink(missing_ok=True)
    try:
        load, load_detail = check_load(target, options)
        shown, shown_detail = check_inspect(target, flags)
    finally:
        shutil.rmtree(case_folder)
    if CODE_RAN.exists():
        return mutation, "finding", f"code from the file ran (it created {CODE_RAN})"
    if "finding" in (load, shown):
        return mutation, "finding", load_detail if load == "finding" else shown_detail
    if load != shown:
        return mutation, "finding", f"load {load} ({load_detail}) but inspect {shown} ({shown_detail})"
    return mutation, load, load_detail


def peak_mb(reset: bool = False) -> float:
    """This process's peak resident memory (VmHWM) since the last reset, in MB; ``reset`` starts a new peak."""
    if reset:
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak resident set size (Linux >= 4.0)
        return 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def resident_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * resource.getpagesize() / 1024**2
    except (OSError, IndexError, ValueError):
        return 0.0


def worker(connection, seeds: dict[str, list[Path]], seed: int, memory_mb: int) -> None:
    # A backstop against one giant allocation; torch, polars and pyarrow reserve some 3 GB of address space
    # they never touch, so resident memory (peak_mb, and the parent's watch) is the bound that counts.
    limit = (memory_mb + 6144) * 1024**2
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    logging.getLogger().addHandler(logging.NullHandler())  # main()'s basicConfig then leaves logging alone
    logging.getLogger().setLevel(logging.CRITICAL)
    warnings.simplefilter("always")  # every case shows a library's warning, not only the first to raise it
    with tempfile.TemporaryDirectory(prefix="fuzz-case-") as folder:
        while True:
            name = connection.recv()
            if name is None:
                return
            peak_mb(reset=True)
            try:
                mutation, outcome, detail = run_case(seeds, name, seed, Path(folder))
            except MemoryError:
                mutation, outcome, detail = "?", "finding", "MemoryError"
            peak = peak_mb()
            if peak > memory_mb and outcome != "finding":
                outcome, detail = "finding", f"peak memory {peak:.0f} MB, over --memory-mb {memory_mb}"
            connection.send((name, mutation, outcome, detail, peak))


# ---------------------------------------------------------------- the parent: hand out cases, time them


class Worker:
    def __init__(self, context, seeds, seed: int, memory_mb: int):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=worker, args=(child, seeds, seed, memory_mb), daemon=True)
        self.process.start()
        self.case: str | None = None
        self.started = 0.0

    def give(self, name: str) -> None:
        self.case, self.started = name, time.monotonic()
        self.connection.send(name)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


def fuzz(seeds: dict[str, list[Path]], names: list[str], seed: int, workers: int, timeout: float,
         memory_mb: int) -> list[tuple[str, str, str, str, float]]:
    """(case, mutation, outcome, detail, peak memory in MB) of every case."""
    context = multiprocessing.get_context("spawn")  # polars' threads do not survive a fork
    pending, results, shown = list(reversed(names)), [], 0
    pool = [Worker(context, seeds, seed, memory_mb) for _ in range(min(workers, len(names)))]
    idle = list(pool)
    while pending or len(idle) < len(pool):
        while idle and pending:
            idle.pop().give(pending.pop())
        for each in [w for w in pool if w not in idle]:
            if each.connection.poll(0.01):
                try:
                    results.append(each.connection.recv())
                    idle.append(each)
                    continue
                except EOFError:
                    pass
            elapsed = time.monotonic() - each.started
            dead = not each.process.is_alive()
            memory = resident_mb(each.process.pid)
            if dead or elapsed > timeout or memory > memory_mb:
                each.stop()
                why = (f"worker died (exit {each.process.exitcode})" if dead else f"hang: over {timeout:.0f} s"
                       if elapsed > timeout else f"memory: {memory:.0f} MB resident, over --memory-mb {memory_mb}")
                results.append((each.case, "?", "finding", why, memory))
                pool[pool.index(each)] = fresh = Worker(context, seeds, seed, memory_mb)
                idle.append(fresh)
        if len(results) >= shown + 1000:
            shown = len(results) // 1000 * 1000
            print(f"  {shown:,}/{len(names):,} cases", file=sys.stderr, flush=True)
    for each in pool:
        each.connection.send(None)
        each.process.join(timeout=10)
        each.stop()
    return results


def summarise(results: list[tuple[str, str, str, str, float]], formats: list[str]) -> str:
    lines = ["| format | mutations | loaded | one-line error | other |", "|---|---:|---:|---:|---:|"]
    for name in formats:
        counts = Counter(outcome for case, _, outcome, *_ in results if case.rsplit(":", 1)[0] == name)
        lines.append(f"| {name} | {sum(counts.values()):,} | {counts['loaded']:,} | {counts['error']:,} | "
                     f"{counts['finding']:,} |")
    by_mutation = Counter((mutation.removesuffix(IN_FOLDER), outcome) for _, mutation, outcome, *_ in results)
    kinds = sorted({m for m, _ in by_mutation})
    lines += ["", "| mutation | loaded | one-line error | other |", "|---|---:|---:|---:|"]
    lines += [f"| {m} | {by_mutation[m, 'loaded']:,} | {by_mutation[m, 'error']:,} | {by_mutation[m, 'finding']:,} |"
              for m in kinds]
    folders = Counter(outcome for _, mutation, outcome, *_ in results if mutation.endswith(IN_FOLDER))
    case, *_, peak = max(results, key=lambda r: r[-1])
    lines += ["", f"read as a folder, the mutated file beside its unmutated neighbours: {sum(folders.values()):,} "
                  f"cases ({folders['loaded']:,} loaded, {folders['error']:,} one-line errors, "
                  f"{folders['finding']:,} other)",
              f"largest peak resident memory of a worker during one case: {peak:.0f} MB ({case})"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-format", type=int, default=10_000, help="mutations per format (default 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="seeds every case's generator (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds a case may take (default 20)")
    parser.add_argument("--memory-mb", type=int, default=2048,
                        help="the resident memory a worker may reach during one case (default 2048)")
    parser.add_argument("--replay", metavar="FORMAT:CASE", help="run one case here and print what it gave")
    parser.add_argument("--results", metavar="FILE", help="also write every case's outcome to FILE, one JSON line each")
    args = parser.parse_args()

    from diversity.load.formats import FORMATS

    logging.getLogger("diversity").setLevel(logging.ERROR)  # the seeds' notes (failed requests, ...) are expected
    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as folder:
        seeds = write_seeds(Path(folder))
        unseeded = [name for name in FORMATS if not seeds.get(name)]
        formats = [name for name in FORMATS if seeds.get(name)]
        if args.replay:
            with tempfile.TemporaryDirectory() as cases:
                mutation, outcome, detail = run_case(seeds, args.replay, args.seed, Path(cases))
            detail += f"\npeak resident memory of this process: {peak_mb():.0f} MB"
            print(f"{args.replay}: {mutation}: {outcome}\n{detail}")
            return 0
        names = [f"{name}:{n}" for n in range(args.per_format) for name in formats]
        started = time.monotonic()
        results = fuzz(seeds, names, args.seed, args.workers, args.timeout, args.memory_mb)
    findings = [r for r in results if r[2] == "finding"]
    if args.results:
        with open(args.results, "w", encoding="utf-8") as handle:
            for case, mutation, outcome, detail, peak in sorted(results):
                handle.write(json.dumps({"case": case, "mutation": mutation, "outcome": outcome, "peak_mb": round(peak),
                                         "detail": detail.splitlines()[0][:300] if detail else ""}) + "\n")
    print(summarise(results, formats))
    print(f"\n{len(results):,} cases in {time.monotonic() - started:.0f} s (--seed {args.seed}); "
          f"{len(findings)} finding(s)")
    for case, mutation, _, detail, _ in sorted(findings)[:50]:
        print(f"\n--- {case} ({mutation}): replay with --replay {case} --seed {args.seed}\n{detail[:3000]}")
    if unseeded:
        print(f"formats without a seed file (add one to write_seeds or data/demo/): {', '.join(unseeded)}")
    return 1 if findings or unseeded else 0


if __name__ == "__main__":
    sys.exit(main())
