"""The mutations of ``fuzz_loaders.py``: each turns a valid log file's bytes into a damaged or odd one.

:func:`mutate` picks one by the file's type (JSONL, CSV, Parquet, Arrow,
torch) and applies it with the case's generator, so a case's file is the
same on every run. Parquet and Arrow files are changed as tables (pyarrow),
torch files as the values they unpickle to (``weights_only``), text files as
lines and JSON values; every type also as bytes.
"""

from __future__ import annotations

import io
import json
import random
import tempfile
from functools import partial
from pathlib import Path

# Raw JSON literals: overflowing floats, integers past int64 and past Python's 4,300-digit limit, NaN.
HUGE_LITERALS = ["1e400", "-1e400", "1e-400", "9" * 20, "-9223372036854775809", "18446744073709551616",
                 "1" + "0" * 5000, "NaN", "Infinity", "-Infinity", "-0.0", "1.7976931348623157e308", "2e308"]
BAD_UTF8 = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80", b"\xf4\x90\x80\x80", b"\x00"]
OTHER_LINES = [b"[]", b'"text"', b"42", b"null", b"true", b"{", b"}", b'{"a": 1}', b"{}", b"\x00\x00", b"\xef\xbb\xbf{}",
               b'{"prompt": null, "response": null}', b"[" * 3000, b'{"prompt": "p"', b"  \t ", b"{}{}"]
# A torch file whose unpickling would call open(CODE_RAN, "w"): the fuzzer checks the file never appears.
CODE_RAN = Path(tempfile.gettempdir()) / "rollout-diversity-fuzz-code-ran"


def a_value(rng: random.Random):
    """A JSON value of some type, to stand where another type belongs."""
    return rng.choice([
        None, True, False, 0, -1, 1.5, -0.0, "", "text", "ünï ✓", "12", "1e3", "nan", [], [1, "a"], ["x"], {},
        {"a": 1}, {"role": "user", "content": "hi"}, [{"role": "user", "content": "hi"}], 2**63, -(2**63) - 1,
        2**64, 1e308, "x" * rng.choice([1, 1000, 100_000]), [[]], [None], [{"role": 1, "content": None}],
        {"choices": []}, {"body": None}, {"status_code": 200}, [[1, 2]], [["a"], ["b"]], "\ud800", "a\udfffb",
    ])


def nested(depth: int, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return '{"a": ' * depth + "1" + "}" * depth


def mutate(source: Path, rng: random.Random, others: list[Path]) -> tuple[str, bytes]:
    """(mutation name, the mutated bytes) of ``source``; a mutation that cannot apply falls back to byte flips."""
    data = source.read_bytes()
    suffix = source.suffix
    if suffix in TABLES:
        kind = rng.choice(["flip_bytes", "truncate", "damage_footer", "duplicate_rows", "delete_rows", "swap_type",
                           "huge_number", "deep_nesting", "invalid_utf8", "rewrite", "splice"])
        change = TABLES[suffix].get(kind) or BYTES[kind]
    elif suffix == ".pt":
        kind = rng.choice(["flip_bytes", "truncate", "duplicate_rows", "delete_rows", "swap_type", "huge_number",
                           "deep_nesting", "invalid_utf8", "replace_payload", "shared_values", "code_in_pickle",
                           "splice"])
        change = TORCH.get(kind) or BYTES[kind]
    else:
        kind = rng.choice(["flip_bytes", "truncate", "duplicate_lines", "delete_lines", "swap_type", "huge_number",
                           "deep_nesting", "invalid_utf8", "replace_line", "splice"])
        change = (CSV if suffix == ".csv" else JSONL).get(kind) or TEXT.get(kind) or BYTES[kind]
    try:
        return kind, change(data, rng, others)
    except Exception:  # e.g. pyarrow cannot build that column for this table
        return "flip_bytes", flip_bytes(data, rng, others)


# ---------------------------------------------------------------- any file, as bytes


def flip_bytes(data: bytes, rng: random.Random, _) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 8, 32])):
        at = rng.randrange(len(out))
        out[at] ^= rng.choice([0xFF, 0x80, 0x01, rng.randrange(1, 256)])
    return bytes(out)


def truncate(data: bytes, rng: random.Random, _) -> bytes:
    return data[: rng.randrange(len(data))]


def splice(data: bytes, rng: random.Random, others: list[Path]) -> bytes:
    other = rng.choice(others).read_bytes()
    if rng.random() < 0.3:
        return data + data  # the whole file twice
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1):]


BYTES = {"flip_bytes": flip_bytes, "truncate": truncate, "splice": splice}


# ---------------------------------------------------------------- JSONL and CSV, as lines


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def duplicate_lines(data: bytes, rng: random.Random, _) -> bytes:
    lines = _lines(data)
    for _ in range(rng.choice([1, 2, 5])):
        at = rng.randrange(len(lines))
        lines[at:at] = [lines[at]] * rng.choice([1, 1, 3])
    return b"\n".join(lines)


def delete_lines(data: bytes, rng: random.Random, _) -> bytes:
    lines = _lines(data)
    for _ in range(rng.choice([1, 1, 2, len(lines) - 1])):
        if lines:
            del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def invalid_utf8(data: bytes, rng: random.Random, _) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(BAD_UTF8) + data[at:]


def replace_line(data: bytes, rng: random.Random, _) -> bytes:
    lines = _lines(data)
    lines[rng.randrange(len(lines))] = rng.choice(OTHER_LINES)
    return b"\n".join(lines)


TEXT = {"duplicate_lines": duplicate_lines, "delete_lines": delete_lines, "invalid_utf8": invalid_utf8,
        "replace_line": replace_line}


def set_somewhere(value, rng: random.Random, new) -> None:
    """Set one field of ``value`` (a dict), or of a dict or list inside it, to ``new``: a top-level field half
    the time, else one some levels down (a batch line's ``response.body.choices[0]``)."""
    where = value
    while True:
        children = list(where) if isinstance(where, dict) else list(range(len(where)))
        inner = [k for k in children if isinstance(where[k], (dict, list)) and where[k]]
        if not inner or rng.random() < 0.5:
            break
        where = where[rng.choice(inner)]
    if isinstance(where, dict):
        where[rng.choice(sorted(where, key=str) + ["new_field"])] = new
    elif where:
        where[rng.randrange(len(where))] = new


def _edit_record(data: bytes, rng: random.Random, raw_value: str) -> bytes:
    """One line's record with one field (an existing one, nested or not, or a new one) set to the raw JSON
    ``raw_value``."""
    lines = _lines(data)
    numbers = [i for i, line in enumerate(lines) if line.strip()]
    at = rng.choice(numbers)
    try:
        record = json.loads(lines[at])
    except ValueError:
        return flip_bytes(data, rng, None)
    if not isinstance(record, dict):
        return flip_bytes(data, rng, None)
    set_somewhere(record, rng, "@@VALUE@@")
    lines[at] = json.dumps(record, ensure_ascii=rng.random() < 0.5).replace('"@@VALUE@@"', raw_value).encode()
    return b"\n".join(lines)


def jsonl_swap_type(data, rng, _):
    return _edit_record(data, rng, json.dumps(a_value(rng)))


def jsonl_huge_number(data, rng, _):
    return _edit_record(data, rng, rng.choice(HUGE_LITERALS))


def jsonl_deep_nesting(data, rng, _):
    return _edit_record(data, rng, nested(rng.choice([20, 200, 900, 990, 2000, 100_000]), rng))


def jsonl_invalid_utf8(data, rng, others):
    """Bytes that are not UTF-8, or (a third of the time) a JSON escape of half a UTF-16 pair in a string."""
    if rng.random() < 0.3:
        return _edit_record(data, rng, rng.choice(['"\\ud800"', '"a\\udfffb"', '"\\uDC00"', '"\\ud83d\\ude00"']))
    return invalid_utf8(data, rng, others)


JSONL = {"swap_type": jsonl_swap_type, "huge_number": jsonl_huge_number, "deep_nesting": jsonl_deep_nesting,
         "invalid_utf8": jsonl_invalid_utf8}


def _edit_cell(data: bytes, rng: random.Random, text: str) -> bytes:
    lines = _lines(data)
    at = rng.randrange(1, max(2, len(lines) - 1))
    cells = lines[at].split(b",")
    cells[rng.randrange(len(cells))] = text.encode()
    lines[at] = b",".join(cells)
    return b"\n".join(lines)


CSV = {
    "swap_type": lambda data, rng, _: _edit_cell(data, rng, rng.choice(
        ["", "true", "[1,2]", '"{""a"": 1}"', "1.5", "-1", "text", '"quoted, comma"', '"unclosed', "a,b,c"])),
    "huge_number": lambda data, rng, _: _edit_cell(data, rng, rng.choice(HUGE_LITERALS)),
    "deep_nesting": lambda data, rng, _: _edit_cell(data, rng, nested(rng.choice([20, 2000]), rng).replace(",", ";")),
}


# ---------------------------------------------------------------- Parquet and Arrow, as pyarrow tables


class ParquetCodec:
    @staticmethod
    def read(data: bytes):
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data))

    @staticmethod
    def write(table, rng: random.Random) -> bytes:
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression=rng.choice(["snappy", "zstd", "gzip", "none", "lz4", "brotli"]),
                       use_dictionary=rng.random() < 0.5, row_group_size=rng.choice([None, 1, 3, 1000]),
                       data_page_version=rng.choice(["1.0", "2.0"]), store_schema=rng.random() < 0.7)
        return buffer.getvalue()


class ArrowCodec:
    """Arrow IPC: the stream format (``datasets.save_to_disk``) or the file format, buffers compressed or not."""

    @staticmethod
    def read(data: bytes):
        import pyarrow as pa

        try:
            return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
        except pa.ArrowInvalid:
            return pa.ipc.open_file(pa.py_buffer(data)).read_all()

    @staticmethod
    def write(table, rng: random.Random, as_file: bool | None = None) -> bytes:
        import pyarrow as pa

        sink = io.BytesIO()
        options = pa.ipc.IpcWriteOptions(compression=rng.choice([None, None, "lz4", "zstd"]))
        as_file = rng.random() < 0.3 if as_file is None else as_file
        opener = pa.ipc.new_file if as_file else pa.ipc.new_stream
        with opener(sink, table.schema, options=options) as writer:
            for batch in table.to_batches(max_chunksize=rng.choice([None, 1, 3])):
                writer.write_batch(batch)
        return sink.getvalue()


def an_array(rng: random.Random, n: int):
    """A column of n values of some Arrow type."""
    import pyarrow as pa

    choices = [
        lambda: pa.array([rng.randrange(-5, 5) for _ in range(n)], pa.int64()),
        lambda: pa.array([rng.choice([0.5, float("nan"), float("inf"), -0.0, None]) for _ in range(n)]),
        lambda: pa.array([rng.choice(["a", "", "ünï", None]) for _ in range(n)]),
        lambda: pa.array([rng.random() < 0.5 for _ in range(n)]),
        lambda: pa.nulls(n),
        lambda: pa.array([["x", "y"]] * n),
        lambda: pa.array([{"role": "user", "content": "hi"}] * n),
        lambda: pa.array([[{"role": "user", "content": "hi"}]] * n),
        lambda: pa.array([b"\xff\xfe"] * n, pa.binary()),
        lambda: pa.array(["s"] * n).dictionary_encode(),
        lambda: pa.array([2**63 - 1] * n, pa.int64()),
        lambda: pa.array([2**64 - 1] * n, pa.uint64()),
        lambda: pa.array([0] * n, pa.timestamp("ns")),
        lambda: pa.array([["a"]] * n, pa.large_list(pa.large_string())),
        lambda: pa.array([1.0] * n, pa.float16()) if hasattr(pa, "float16") else pa.nulls(n),
        lambda: pa.array([[1.0, None]] * n, pa.list_(pa.float64())),
        lambda: pa.array([[]] * n, pa.list_(pa.string())),
    ]
    return rng.choice(choices)()


def _replace_column(table, rng: random.Random, array):
    name = rng.choice(table.column_names + ["new_column"])
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, array)
    return table.append_column(name, array)


def table_swap_type(codec, data, rng, _):
    table = codec.read(data)
    return codec.write(_replace_column(table, rng, an_array(rng, table.num_rows)), rng)


def table_huge_number(codec, data, rng, _):
    import pyarrow as pa

    table = codec.read(data)
    value = rng.choice([(2**63 - 1, pa.int64()), (-(2**63), pa.int64()), (2**64 - 1, pa.uint64()),
                        (float("inf"), pa.float64()), (1e308, pa.float64()), (float("nan"), pa.float32())])
    return codec.write(_replace_column(table, rng, pa.array([value[0]] * table.num_rows, value[1])), rng)


def table_deep_nesting(codec, data, rng, _):
    import pyarrow as pa

    table = codec.read(data)
    depth = rng.choice([5, 20, 30, 40])
    kind, value = pa.string(), "v"
    for _ in range(depth):
        kind, value = (pa.list_(kind), [value]) if rng.random() < 0.7 else (pa.struct([("a", kind)]), {"a": value})
    return codec.write(_replace_column(table, rng, pa.array([value] * table.num_rows, kind)), rng)


def table_invalid_utf8(codec, data, rng, _):
    """A string column whose bytes are not UTF-8 (built from raw buffers, which pyarrow does not validate)."""
    import pyarrow as pa

    table = codec.read(data)
    n = table.num_rows
    chunk = rng.choice(BAD_UTF8)
    offsets = pa.py_buffer(bytes().join(int.to_bytes(i * len(chunk), 4, "little") for i in range(n + 1)))
    column = pa.Array.from_buffers(pa.string(), n, [None, offsets, pa.py_buffer(chunk * n)])
    return codec.write(_replace_column(table, rng, column), rng)


def table_rows(duplicate: bool):
    def change(codec, data, rng, _):
        import pyarrow as pa

        table = codec.read(data)
        indices = list(range(table.num_rows))
        for _ in range(rng.choice([1, 3, table.num_rows])):
            if duplicate:
                indices.insert(rng.randrange(len(indices) + 1), rng.randrange(table.num_rows))
            elif indices:
                del indices[rng.randrange(len(indices))]
        return codec.write(table.take(pa.array(indices, pa.int64())), rng)

    return change


def damage_footer(data: bytes, rng: random.Random, _) -> bytes:
    """A Parquet footer (its length, magic or metadata bytes) damaged."""
    length = int.from_bytes(data[-8:-4], "little")
    out = bytearray(data)
    choice = rng.randrange(4)
    if choice == 0:  # a footer length that lies
        out[-8:-4] = rng.choice([0, 1, length + 1, length - 1, 2**31 - 1, 2**32 - 1, len(data)]).to_bytes(4, "little")
    elif choice == 1:  # the magic
        out[-rng.randrange(1, 5)] ^= 0xFF
    else:  # bytes inside the metadata
        for _ in range(rng.choice([1, 2, 8])):
            out[len(data) - 8 - rng.randrange(1, max(2, length))] = rng.randrange(256)
    return bytes(out)


def arrow_damage_footer(data: bytes, rng: random.Random, _) -> bytes:
    """The file format's footer (int32 length, then ``ARROW1``) damaged: its length, magic or schema bytes."""
    data = ArrowCodec.write(ArrowCodec.read(data), rng, as_file=True)
    length = int.from_bytes(data[-10:-6], "little")
    out = bytearray(data)
    choice = rng.randrange(4)
    if choice == 0:
        out[-10:-6] = rng.choice([0, 1, length + 1, length - 1, 2**31 - 1, len(data)]).to_bytes(4, "little")
    elif choice == 1:
        out[-rng.randrange(1, 7)] ^= 0xFF
    else:
        for _ in range(rng.choice([1, 2, 8])):
            out[len(data) - 10 - rng.randrange(1, max(2, length))] = rng.randrange(256)
    return bytes(out)


def _table_mutations(codec, footer) -> dict:
    changes = {"swap_type": table_swap_type, "huge_number": table_huge_number, "deep_nesting": table_deep_nesting,
               "invalid_utf8": table_invalid_utf8, "duplicate_rows": table_rows(True), "delete_rows": table_rows(False),
               "rewrite": lambda codec, data, rng, _: codec.write(codec.read(data), rng)}
    return {**{kind: partial(change, codec) for kind, change in changes.items()}, "damage_footer": footer}


TABLES = {".parquet": _table_mutations(ParquetCodec, damage_footer), ".arrow": _table_mutations(ArrowCodec, arrow_damage_footer)}


# ---------------------------------------------------------------- torch.save files, as the values they hold


class RunsCode:
    """Unpickling this would call open(CODE_RAN, "w")."""

    def __reduce__(self):
        return (open, (str(CODE_RAN), "w"))


def _load(data: bytes):
    import torch

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _save(payload) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def a_torch_value(rng: random.Random):
    """A value a torch file may hold, to stand where another belongs: any JSON value, or a tensor, tuple,
    bytes or a string Python holds but UTF-8 cannot."""
    import torch

    return rng.choice([
        lambda: a_value(rng), lambda: torch.arange(3), lambda: torch.tensor(float("nan")), lambda: torch.empty(0),
        lambda: torch.ones(2, 2, dtype=torch.bool), lambda: torch.tensor([1.5]), lambda: (1, "a"), lambda: b"\xff",
        lambda: "\ud800", lambda: {1: "a"}, lambda: [torch.tensor(1)] * 3, lambda: [{1, 2}], lambda: {1, 2},
        lambda: {(1, 2): "a"},
    ])()


def _samples(payload) -> list:
    samples = payload.get("samples") if isinstance(payload, dict) else None
    if not isinstance(samples, list) or not samples:
        raise ValueError("no samples")
    return samples


def torch_edit(make_value):
    def change(data, rng, _):
        payload = _load(data)
        target = payload if rng.random() < 0.15 else rng.choice(_samples(payload))  # the header, or a sample
        if rng.random() < 0.05:
            target[rng.choice([1, (1, 2), None, b"k"])] = make_value(rng)  # a field name that is not text
        else:
            set_somewhere(target, rng, make_value(rng))
        return _save(payload)

    return change


def _nested_value(rng: random.Random):
    value = "v"
    for _ in range(rng.choice([20, 70, 200, 900])):
        value = [value] if rng.random() < 0.5 else {"a": value}
    return value


def torch_rows(duplicate: bool):
    def change(data, rng, _):
        payload = _load(data)
        samples = _samples(payload)
        for _ in range(rng.choice([1, 3, len(samples)])):
            if duplicate:
                samples.insert(rng.randrange(len(samples) + 1), rng.choice(samples))
            elif samples:
                del samples[rng.randrange(len(samples))]
        return _save(payload)

    return change


def torch_replace_payload(data, rng, _):
    payload = _load(data)
    return _save(rng.choice([[], None, 3, "text", {"samples": None}, {"samples": [1, 2]}, {"samples": []},
                             {"samples": {"a": 1}}, {"rollout_id": "x", **payload}, {"rollout_id": 2**70, **payload},
                             {k: v for k, v in payload.items() if k != "rollout_id"}, _samples(payload)]))


def torch_shared_values(data, rng, _):
    """One value referred to many times: a pickle a few KB long that unpickles to gigabytes of rows."""
    payload = _load(data)
    samples = _samples(payload)
    if rng.random() < 0.5:
        payload["samples"] = samples * rng.choice([10, 1000, 100_000])
    else:
        shared = [rng.choice(samples)]
        for _ in range(rng.choice([5, 15, 30])):
            shared = [shared, shared]
        rng.choice(samples)["extra"] = shared
    return _save(payload)


def torch_code_in_pickle(data, rng, _):
    payload = _load(data)
    target = payload if rng.random() < 0.3 else rng.choice(_samples(payload))
    set_somewhere(target, rng, RunsCode())
    return _save(payload)


TORCH = {"duplicate_rows": torch_rows(True), "delete_rows": torch_rows(False), "swap_type": torch_edit(a_torch_value),
         "huge_number": torch_edit(lambda rng: rng.choice([2**63, 2**64, -(2**63) - 1, 10**400, float("inf"),
                                                           float("nan"), 1e308, -1e308])),
         "deep_nesting": torch_edit(_nested_value),
         "invalid_utf8": torch_edit(lambda rng: rng.choice(["\ud800", "a\udfffb", "\x00", b"\xff\xfe"])),
         "replace_payload": torch_replace_payload, "shared_values": torch_shared_values,
         "code_in_pickle": torch_code_in_pickle}
