"""Untrusted files: no code run from a pickle, no link followed out of the folder given without a warning,
and what one file may make the loader allocate bounded before it is read."""

from __future__ import annotations

import logging
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diversity.load import limits, read_rollouts
from diversity.load.records import read_torch_file
from rollout_common.errors import InputError
from tests.conftest import canonical_rows, write_jsonl

# ---------------------------------------------------------------- pickles


class RunsCode:
    """Unpickling this calls open(path, "w"): a file appears if the loader ran code from the pickle."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_torch_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path) -> None:
    import torch

    marker, path = tmp_path / "pwned", tmp_path / "rollout_data" / "0.pt"
    path.parent.mkdir()
    torch.save({"rollout_id": 0, "samples": [RunsCode(marker)]}, path)
    with pytest.raises(InputError, match=r"0\.pt: refused: the file holds objects that only running code could "
                                         r"rebuild \(io\.open\); it was not unpickled; re-save it"):
        read_torch_file(path)
    assert not marker.exists()


def test_a_torch_file_of_plain_values_and_tensors_is_read(tmp_path) -> None:
    import torch

    path = tmp_path / "1.pt"
    samples = [{"group_index": 0, "index": i, "prompt": "p", "response": f"r{i}", "reward": 1.0,
                "metadata": {"k": [1, 2]}, "tokens": torch.arange(3)} for i in range(2)]
    torch.save({"rollout_id": 1, "samples": samples}, path)
    data = read_torch_file(path)
    assert data["rollout_id"] == 1 and [s["response"] for s in data["samples"]] == ["r0", "r1"]
    assert data["samples"][1]["tokens"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("content", [b"", b"not a torch file", b"PK\x03\x04 truncated zip"])
def test_a_damaged_torch_file_is_one_input_error(tmp_path, content) -> None:
    path = tmp_path / "2.pt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"2\.pt: cannot read the torch file"):
        read_torch_file(path)


# ---------------------------------------------------------------- links


@pytest.fixture
def linked_folder(tmp_path):
    """logs/ holds a log, a link to it, a link to a log outside, a link to a folder outside and a dangling link."""
    logs, outside = tmp_path / "logs", tmp_path / "private"
    write_jsonl(logs / "a.jsonl", canonical_rows(steps=(0,)))
    write_jsonl(outside / "secret.jsonl", canonical_rows(lineage="secret", steps=(5,)))
    write_jsonl(outside / "more" / "b.jsonl", canonical_rows(lineage="secret", steps=(6,)))
    os.symlink("a.jsonl", logs / "same.jsonl")
    os.symlink(outside / "secret.jsonl", logs / "secret.jsonl")
    os.symlink(outside / "more", logs / "more")
    os.symlink(tmp_path / "gone.jsonl", logs / "dangling.jsonl")
    return logs, outside


def test_a_search_does_not_follow_links_out_of_its_folder_and_names_each(linked_folder, caplog) -> None:
    logs, outside = linked_folder
    with caplog.at_level(logging.WARNING, logger="diversity"):
        result = read_rollouts(logs)
    assert [f.path for f in result.files] == [str(logs / "a.jsonl")]  # the inside link is the same file: read once
    assert result.frame["lineage"].unique().to_list() == ["grpo"] and result.frame.height == 6
    warnings = sorted(r.getMessage() for r in caplog.records)
    assert warnings == [
        f"{logs / 'dangling.jsonl'}: not following the link to {logs.parent / 'gone.jsonl'} (it points nowhere); "
        "name the target to read it",
        f"{logs / 'more'}: not following the link to {outside / 'more'} (it points outside {logs}); "
        "name the target to read it",
        f"{logs / 'secret.jsonl'}: not following the link to {outside / 'secret.jsonl'} (it points outside {logs}); "
        "name the target to read it",
    ]


def test_a_link_the_user_names_is_followed(linked_folder) -> None:
    logs, _ = linked_folder
    result = read_rollouts([logs / "secret.jsonl", logs / "more"])
    assert result.frame["step"].unique().sort().to_list() == [5, 6]


# ---------------------------------------------------------------- bounds


def test_a_tiny_parquet_file_whose_metadata_says_gigabytes_is_refused_unread(tmp_path, monkeypatch) -> None:
    """100 million null rows: 300 KB on disk, 3 GB once each row is a value."""
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"prompt": pa.nulls(100_000_000), "response": pa.nulls(100_000_000)}), path,
                   row_group_size=100_000_000)
    assert path.stat().st_size < 1_000_000
    monkeypatch.setattr(pq, "ParquetFile", None)  # refused before a page is read
    with pytest.raises(InputError, match=r"rows\.parquet: the file would take 2\.98 GiB to read \(its metadata: "
                                         r"100,000,000 rows × 2 columns, .* over the 2\.00 GiB limit for one file; "
                                         r"split it .*ROLLOUT_DIVERSITY_MAX_FILE_BYTES"):
        read_rollouts(path)


@pytest.mark.parametrize("arrow_schema", [True, False], ids=["categorical", "string"])
def test_a_dictionary_encoded_parquet_file_that_decodes_to_gigabytes_is_refused(tmp_path, arrow_schema) -> None:
    """One 100 KB string repeated 30,000 times: 10 KB on disk, 3 GB as Python strings."""
    path = tmp_path / "dictionary.parquet"
    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(30_000, np.int32)), pa.array(["x" * 100_000]))
    pq.write_table(pa.table({"prompt": text, "response": text}), path, store_schema=arrow_schema)
    assert path.stat().st_size < 100_000
    with pytest.raises(InputError, match=r"dictionary\.parquet: the file would take 5\.59 GiB to read "
                                         r"\(as decoded\), over the 2\.00 GiB limit"):
        read_rollouts(path)


def test_compressed_parquet_pages_over_the_limit_are_refused(tmp_path, monkeypatch) -> None:
    path = tmp_path / "pages.parquet"
    pq.write_table(pa.table({"step": [0] * 20, "group_id": ["g"] * 20, "prompt": ["p"] * 20,
                             "response": ["y" * 1_000_000] * 20}), path,
                   compression="zstd", use_dictionary=False)
    assert path.stat().st_size < 100_000
    monkeypatch.setenv(limits.LIMIT_ENV, "10000000")
    with pytest.raises(InputError, match=r"pages\.parquet: the file would take 19\.\d+ MiB to read \(its metadata"):
        read_rollouts(path)
    monkeypatch.setenv(limits.LIMIT_ENV, "30000000")
    assert read_rollouts(path).frame.height == 20


def test_a_jsonl_or_csv_file_over_the_limit_is_refused_by_its_size(tmp_path, monkeypatch) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", canonical_rows(steps=range(50)))
    monkeypatch.setenv(limits.LIMIT_ENV, str(path.stat().st_size - 1))
    with pytest.raises(InputError, match=r"big\.jsonl: the file would take [\d,]+ bytes to read \(on disk\), "
                                         r"over the [\d,]+ bytes limit"):
        read_rollouts(path)
    monkeypatch.setenv(limits.LIMIT_ENV, "lots")
    with pytest.raises(Exception, match="ROLLOUT_DIVERSITY_MAX_FILE_BYTES='lots': give a positive number of bytes"):
        read_rollouts(path)


def test_a_jsonl_line_over_the_bound_is_refused_without_reading_it_whole(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "long.jsonl"
    path.write_text('{"prompt": "p", "response": "short"}\n{"prompt": "p", "response": "' + "z" * 5000 + '"}\n')
    with pytest.raises(InputError, match=r"long\.jsonl:2: the line is longer than 1,000 bytes"):
        read_rollouts(path)


def test_a_parquet_column_nested_too_deep_is_refused(tmp_path) -> None:
    kind = pa.string()
    for _ in range(40):  # 81 levels: the column, then "list" and "element" for each list
        kind = pa.list_(kind)
    value = "v"
    for _ in range(40):
        value = [value]
    path = tmp_path / "deep.parquet"
    columns = {"step": [0], "group_id": ["g"], "prompt": ["p"], "response": ["r"], "extra": pa.array([value], type=kind)}
    pq.write_table(pa.table(columns), path)
    with pytest.raises(InputError, match=r"deep\.parquet: a column is nested 81 levels deep \(at most 64 are read\)"):
        read_rollouts(path)


# ---------------------------------------------------------------- the same bounds when a log is streamed


def streamed(path, **options):
    from diversity.streaming import score_logs

    return score_logs(path, path.parent / "scores.parquet", chunk_rows=10, metrics=["distinct_n"], progress=False, force=True,
                      **options)


def test_a_streamed_jsonl_line_over_the_bound_or_nested_too_deep_is_the_loaders_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 1000)
    rows = canonical_rows(steps=range(5))
    long = write_jsonl(tmp_path / "long" / "log.jsonl", rows + [{**rows[0], "response": "z" * 5000}])
    deep = write_jsonl(tmp_path / "deep" / "log.jsonl", rows + [{**rows[0], "extra": [[[[[[[[[[]]]]]]]]]]}])
    monkeypatch.setattr(limits, "MAX_NESTING", 8)
    for path, message in ((long, r"log\.jsonl:31: the line is longer than 1,000 bytes"),
                          (deep, r"log\.jsonl:31: JSON value nested too deeply \(more than 8 levels\)")):
        with pytest.raises(InputError, match=message):
            read_rollouts(path)
        with pytest.raises(InputError, match=message):
            streamed(path)


def test_a_streamed_parquet_file_is_held_to_the_limit_a_row_group_at_a_time(tmp_path, monkeypatch) -> None:
    """Streaming holds one piece, so a file past the limit streams when each row group is within it; a row
    group past it is refused from the metadata, before a page is read."""
    rows = canonical_rows(steps=range(40))
    path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=24)
    metadata = pq.read_metadata(path)
    group = max(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    size = group + 24 * metadata.num_columns * limits.BYTES_PER_VALUE  # what the largest row group may hold
    monkeypatch.setenv(limits.LIMIT_ENV, str(size * 2))
    with pytest.raises(InputError, match=r"log\.parquet: the file would take .* \(its metadata: 240 rows"):
        read_rollouts(path)
    written = streamed(path)
    assert written.rollouts == 240 and written.files[0].read == written.files[0].kept == 240
    monkeypatch.setenv(limits.LIMIT_ENV, str(size - 1))
    with pytest.raises(InputError, match=r"log\.parquet: the file would take .* \(its metadata, its largest row "
                                         r"group: 24 rows"):
        streamed(path)


def test_a_torch_file_that_unpickles_to_gigabytes_is_refused(tmp_path) -> None:
    """A pickle may refer to one value many times: 30 levels of [x, x] are 2**30 copies of one sample."""
    import torch

    sample = {"group_index": 0, "prompt": "p", "response": "r" * 100, "reward": 1.0}
    shared = [sample]
    for _ in range(25):
        shared = [shared, shared]
    path = tmp_path / "rollout_data" / "0.pt"
    path.parent.mkdir()
    torch.save({"rollout_id": 0, "samples": [sample] * 2, "shared": shared}, path)
    assert path.stat().st_size < 10_000
    with pytest.raises(InputError, match=r"0\.pt: the file would take [\d.]+ GiB to read \(as unpickled, each "
                                         r"shared value counted at every use\), over the 2\.00 GiB limit"):
        read_rollouts(path)


def test_a_torch_file_that_refers_to_one_value_over_and_over_is_refused(tmp_path) -> None:
    """Within the file limit, but 288 times its size on disk: 4,096 uses of one sample in 9 KB."""
    import torch

    sample = {"group_index": 0, "prompt": "p", "response": "r" * 100, "reward": 1.0}
    path = tmp_path / "rollout_data" / "0.pt"
    path.parent.mkdir()
    torch.save({"rollout_id": 0, "samples": [sample] * 4096}, path)
    with pytest.raises(InputError, match=r"0\.pt: the file would take [\d.]+ MiB as unpickled, [\d,]+ times its "
                                         r"[\d,]+ bytes on disk \(at most 64 times\): it refers to shared values"):
        read_rollouts(path)
    torch.save({"rollout_id": 0, "samples": [dict(sample, index=i) for i in range(64)]}, path)
    assert read_rollouts(path).frame.height == 64


def test_an_arrow_file_is_held_to_the_same_bounds(tmp_path, monkeypatch) -> None:
    """datasets' save_to_disk Arrow stream: decoded size (dictionaries expanded), nesting and repeated names.
    (pyarrow writes and reads IPC at most 64 levels deep, so the nesting bound is tried at 64.)"""
    def write(name: str, table: pa.Table):
        path = tmp_path / name
        with pa.ipc.new_stream(str(path), table.schema) as writer:
            writer.write_table(table)
        return path

    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(30_000, np.int32)), pa.array(["x" * 100_000]))
    with pytest.raises(InputError, match=r"bomb\.arrow: the file would take 5\.59 GiB to read \(as decoded\)"):
        read_rollouts(write("bomb.arrow", pa.table({"prompt": text, "response": text})))
    nested = pa.array(["v"])
    for _ in range(63):  # built a level at a time: pyarrow converts Python values only some 64 levels deep
        nested = pa.ListArray.from_arrays(pa.array([0, 1], pa.int32()), nested)
    deep = pa.table({"prompt": ["p"], "response": ["r"], "extra": nested})
    deep_path = write("deep.arrow", deep)
    monkeypatch.setattr(limits, "MAX_NESTING", 32)
    with pytest.raises(InputError, match=r"deep\.arrow: a column is nested 64 levels deep \(at most 32 are read\)"):
        read_rollouts(deep_path)
    twice = pa.Table.from_arrays([pa.array(["p"]), pa.array(["r"]), pa.array(["q"])], ["prompt", "response", "prompt"])
    with pytest.raises(InputError, match=r"twice\.arrow: columns \['prompt'\] appear more than once"):
        read_rollouts(write("twice.arrow", twice))
