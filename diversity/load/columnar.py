"""Parquet and Arrow files read through pyarrow, a row group or record batch at a time, within the limits.

pyarrow reports a damaged file as an error (polars panics on some, which is
a ``BaseException``: a traceback, and the command line's worker dies). What
a file may make the loader hold is checked (:mod:`diversity.load.limits`)
before a page is read, from the Parquet metadata (uncompressed pages, and
rows × columns), and again on what each piece decodes to, dictionaries
expanded, before any row becomes a Python object. Read whole, the pieces add
up against the limit; streamed (``piece_rows``), each piece is held to it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diversity.load import limits
from rollout_common.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa


def parquet_tables(path: Path, piece_rows: int | None = None) -> Iterator[pa.Table]:
    """The file's rows as pyarrow tables: one per row group (``piece_rows=None``, the whole file held to the
    limit) or of at most ``piece_rows`` rows (each piece held to it). A damaged or oversized file, or one
    whose columns repeat a name or nest too deep, is an InputError naming it."""
    import pyarrow.parquet as pq

    with _as_input_error(path, "Parquet", "the file may be truncated or not Parquet; re-export it"):
        metadata = pq.read_metadata(path)
        _check_parquet_metadata(path, metadata, whole=piece_rows is None)
        parquet = pq.ParquetFile(path, read_dictionary=_dictionary_columns(metadata))
        _check_names(path, parquet.schema_arrow.names)
    decoded = 0
    for group in range(metadata.num_row_groups):
        with _as_input_error(path, "Parquet", "the file may be truncated or not Parquet; re-export it"):
            # Row group by row group: pyarrow keeps a nested column's dictionaries only within one.
            pieces = ([parquet.read_row_group(group)] if piece_rows is None else
                      (_table(batch) for batch in parquet.iter_batches(piece_rows, row_groups=[group])))
            for table in pieces:
                table.validate(full=True)
                size = table.nbytes + _dictionary_expansion(table)
                decoded = decoded + size if piece_rows is None else size
                limits.check_size(path, decoded, "as decoded")
                yield _undictionary(table)


def arrow_tables(path: Path) -> Iterator[pa.Table]:
    """An Arrow IPC file's record batches as tables: the stream format ``datasets.Dataset.save_to_disk``
    writes, or the file format; their decoded size adds up against the limit."""
    import pyarrow as pa

    fix = "the file may be truncated or not an Arrow IPC file; re-export it"
    with _as_input_error(path, "Arrow", fix):
        try:
            reader = pa.ipc.open_stream(pa.memory_map(str(path)))
            batches = iter(reader)
        except pa.ArrowInvalid:
            reader = pa.ipc.open_file(pa.memory_map(str(path)))
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        _check_names(path, reader.schema.names)
        depth = max((_type_depth(f.type) for f in reader.schema), default=0)
        if depth > limits.MAX_NESTING:
            raise InputError(path, f"a column is nested {depth} levels deep (at most {limits.MAX_NESTING} are read)",
                             fix="flatten the nested columns")
        decoded = 0
        for batch in batches:
            batch.validate(full=True)  # IPC buffers are used as they lie in the file: a bad offset would crash
            table = _table(batch)
            decoded += table.nbytes + _dictionary_expansion(table)
            limits.check_size(path, decoded, "as decoded")
            yield _undictionary(table)


def _table(batch) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_batches([batch])


def table_rows(path: Path, table: pa.Table) -> list[dict]:
    """The table's rows as dicts of Python values; a value pyarrow cannot convert (text that is not UTF-8) is
    an InputError naming the file."""
    kind = "Parquet" if path.suffix.lower() == ".parquet" else "Arrow"
    with _as_input_error(path, kind, "the file may be damaged; re-export it"):
        return table.to_pylist()


def polars_dtypes(schema: pa.Schema) -> dict[str, pl.DataType]:
    """Each column's type as polars names it (a dictionary's by its values; ``pl.Unknown`` for a type polars has
    no name for)."""
    import pyarrow as pa

    dtypes = {}
    for column in schema:
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        try:
            dtypes[column.name] = pl.from_arrow(pa.schema([(column.name, kind)]).empty_table()).schema[column.name]
        except (Exception, pl.exceptions.PanicException):  # a panic derives from BaseException
            dtypes[column.name] = pl.Unknown
    return dtypes


def _check_names(path: Path, names: list[str]) -> None:
    """Two columns of one name are refused (a reader would see one of them, silently)."""
    if len(set(names)) < len(names):
        raise InputError(path, f"columns {sorted({n for n in names if names.count(n) > 1})} appear more than once",
                         fix="give every column its own name")


@contextlib.contextmanager
def _as_input_error(path: Path, kind: str, fix: str) -> Iterator[None]:
    """Whatever pyarrow raises for a damaged file inside ``with`` becomes one InputError naming the file."""
    try:
        yield
    except InputError:
        raise
    except Exception as error:  # pyarrow raises several types for damaged files
        message = str(error).splitlines()[0][:160] if str(error) else ""
        raise InputError(path, f"cannot read {kind} ({type(error).__name__}: {message})", fix=fix) from None


def _check_parquet_metadata(path: Path, metadata, whole: bool) -> None:
    """Refuse, before reading a page, a file whose metadata says it expands past the limit (the whole file, or
    when streamed its largest row group) or nests too deep."""
    schema = metadata.schema
    depth = max((schema.column(i).path.count(".") + 1 for i in range(metadata.num_columns)), default=0)
    if depth > limits.MAX_NESTING:
        raise InputError(path, f"a column is nested {depth} levels deep (at most {limits.MAX_NESTING} are read)",
                         fix="flatten the nested columns")
    groups = [metadata.row_group(i) for i in range(metadata.num_row_groups)]
    sizes = [(max(g.total_byte_size, 0), g.num_rows) for g in groups]
    pages, rows = ((sum(s for s, _ in sizes), metadata.num_rows) if whole else
                   max(sizes, key=lambda s: s[0] + s[1] * max(metadata.num_columns, 1), default=(0, 0)))
    columns = metadata.num_columns
    where = "its metadata" if whole else "its metadata, its largest row group"
    limits.check_size(path, pages + rows * max(columns, 1) * limits.BYTES_PER_VALUE,
               f"{where}: {rows:,} rows × {columns} columns, {pages:,} bytes uncompressed")


def _dictionary_columns(metadata) -> list[str]:
    """Every text or bytes column, read as dictionaries, so a value repeated a million times is held once until
    the decoded size has been checked. Chosen from the schema: a column chunk's own metadata (its encodings)
    is not looked at, since pyarrow aborts the process on some damaged ones (a C++ exception it cannot pass on:
    "Definition level histogram size mismatch")."""
    schema = metadata.schema
    return sorted({schema.column(i).path for i in range(len(schema)) if schema.column(i).physical_type == "BYTE_ARRAY"})


def _undictionary(table: pa.Table) -> pa.Table:
    """The table with its dictionaries decoded (once their size has been checked): pyarrow makes Python values of
    plain text some 6 times faster than of dictionaries."""
    import pyarrow as pa

    columns = [_decoded(column) for column in table.columns]
    return pa.Table.from_arrays(columns, schema=pa.schema([pa.field(f.name, c.type, f.nullable, f.metadata)
                                                          for f, c in zip(table.schema, columns)],
                                                         metadata=table.schema.metadata))


def _decoded(column):
    import pyarrow as pa

    plain = _plain(column.type)
    if plain == column.type:
        return column
    try:
        return column.cast(plain)
    except pa.ArrowException:  # a cast pyarrow lacks: its values are still read, only slower
        return column


def _plain(kind):
    """An Arrow type with every dictionary inside it replaced by its values' type."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        return _plain(kind.value_type)
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _plain(f.type), f.nullable) for f in kind])
    if pa.types.is_large_list(kind):
        return pa.large_list(pa.field(kind.value_field.name, _plain(kind.value_type)))
    if pa.types.is_list(kind):
        return pa.list_(pa.field(kind.value_field.name, _plain(kind.value_type)))
    if pa.types.is_map(kind):
        return pa.map_(_plain(kind.key_type), _plain(kind.item_type))
    return kind


def _dictionary_expansion(table) -> int:
    """Bytes the table's dictionary-encoded text takes beyond its dictionaries once every use is its own value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def expansion(array) -> int:
        kind = array.type
        if pa.types.is_dictionary(kind):
            if not (pa.types.is_string(kind.value_type) or pa.types.is_binary(kind.value_type)
                    or pa.types.is_large_string(kind.value_type) or pa.types.is_large_binary(kind.value_type)):
                return 0
            lengths = pc.fill_null(pc.binary_length(array.dictionary), 0)
            return int(pc.sum(pc.take(lengths, array.indices)).as_py() or 0)
        if pa.types.is_struct(kind):
            return sum(expansion(array.field(i)) for i in range(kind.num_fields))
        if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            return expansion(array.values)
        if pa.types.is_map(kind):
            return expansion(array.keys) + expansion(array.items)
        return 0

    return sum(expansion(chunk) for column in table.columns for chunk in column.chunks)


def _type_depth(kind) -> int:
    """Levels of an Arrow type: 1 for a plain value, one more for each list, struct or map around it."""
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return 1 + max((_type_depth(kind.field(i).type) for i in range(kind.num_fields)), default=0)
    if pa.types.is_map(kind):
        return 1 + max(_type_depth(kind.key_type), _type_depth(kind.item_type))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return 1 + _type_depth(kind.value_type)
    if pa.types.is_dictionary(kind):
        return _type_depth(kind.value_type)
    return 1
