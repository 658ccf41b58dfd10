"""Reading one Higgs file: its first line, its format, then its blocks.

:class:`FileReader` opens a file (see :mod:`.stream`), tells its format
from line 1 (see :mod:`.schema`), and feeds its blocks of lines through a
fast parser into an :class:`~.accumulate.Accumulator`. A block that the
fast parser refuses, or whose values fail :func:`~.values.find_problem`, is
read again by the careful :mod:`.validator`, which either reads it (a valid
block the fast parser could not) or names the file, line and column at
fault. Messages are one line and at most :data:`~.schema.MESSAGE_LIMIT`
characters.

pyarrow parses without the GIL, so :class:`FileReader` has blocks parsed
in threads, one per core, while it cuts the next one and stores the one before:
cutting, checking and copying no longer wait for the parser. Results are
taken in file order, so the first bad line is the one named. Blocks stay
small (1-4 MiB): they stay in the CPU caches, and the few in flight cost
little beside the float32 matrix.
"""
import collections
import dataclasses
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from tqdm.auto import tqdm

from ..errors import HiggsDataError
from .arrow_engine import ArrowEngine, arrow_available
from .numpy_engine import NumpyEngine
from .schema import SCHEMAS, clip, detect_format, header_problems
from .stream import LineError, open_lines
from .validator import describe, parse_carefully
from .values import find_problem

__all__ = ["FileReader", "ReadOptions", "ENGINES", "resolve_engine"]

#: Parsers :func:`~.load.load_higgs` can use; ``'auto'`` is ``'arrow'`` when
#: pyarrow is installed, else ``'numpy'``; ``'python'`` is the careful
#: validator alone (slow: for checking a suspect file).
ENGINES = ("auto", "arrow", "numpy", "python")
_ENGINE_CLASSES = {"arrow": ArrowEngine, "numpy": NumpyEngine}
# Files smaller than this load in about a second: no progress bar.
_PROGRESS_MIN_BYTES = 32 * 2**20
# Automatic block sizes: a 32nd of the file, within these bounds, so that a
# block's text and parsed values stay small beside the float32 matrix.
_MIN_BLOCK_BYTES, _MAX_BLOCK_BYTES = 1 << 20, 4 << 20
# Plain text per compressed byte assumed when sizing a gzip file's arrays.
_GZIP_RATIO_GUESS = 4


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """How :class:`FileReader` reads: the format expected, parser, block size, progress."""

    format: str = None
    engine: str = "auto"
    chunk_rows: int = None
    progress: bool = None


def resolve_engine(engine):
    """Return ``'arrow'``, ``'numpy'`` or ``'python'`` for an ``engine`` option."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "auto":
        return "arrow" if arrow_available() else "numpy"
    if engine == "arrow" and not arrow_available():
        raise ValueError("engine='arrow' needs pyarrow: pip install 'dropout_layers[pandas]'")
    return engine


class FileReader:
    """One pass over one open file.

    Parameters
    ----------
    path : str
        For messages.
    raw : binary file object
        Open, seekable.
    options : ReadOptions
        ``engine`` already resolved (see :func:`resolve_engine`).

    Attributes
    ----------
    schema : Schema
    delimiter : str
    first_data_line : int
        Line number of the first event (1 for UCI, 2 after a header).
    """

    def __init__(self, path, raw, options):
        self.path = path
        self.raw = raw
        self.options = options
        self._lines = open_lines(raw)
        self._lines_read = 0
        self._start()

    def fail(self, message):
        """Raise :class:`HiggsDataError` for this file."""
        raise HiggsDataError(clip(f"{self.path}: {message}"))

    def _start(self):
        try:
            first = self._lines.first_line()
        except ValueError as exc:
            self.fail(exc)
        first = first.removeprefix(b"\xef\xbb\xbf")
        if not first.strip():
            if any(not block.isspace() for block in self._blocks(1 << 16)):
                self.fail("line 1 is empty; expected a header or a data row")
            self.fail("file is empty")
        text = first.decode("utf-8", errors="backslashreplace")
        try:
            name = detect_format(text, self.options.format)
        except ValueError as exc:
            self.fail(exc)
        self.schema = SCHEMAS[name]
        if self.schema.has_header:
            if "\t" in text and "," not in text:
                self.fail(f"the header is tab-separated; {name} files are comma-separated")
            problems = header_problems([field.strip() for field in text.split(",")],
                                       self.schema.columns)
            if problems:
                self.fail(f"header does not match the {name} format: {problems}")
            self.delimiter, self.first_data_line = ",", 2
        else:
            self.delimiter = "\t" if "\t" in text else ","
            self._lines.push_back(first)
            self.first_data_line = 1

    def _blocks(self, block_bytes, first_line=1):
        try:
            yield from self._lines.blocks(block_bytes)
        except LineError as exc:
            self._fail_long_line(exc, first_line)

    def _fail_long_line(self, exc, first_line):
        self.fail(f"line {first_line + self._lines_read + exc.lines_into_block} {exc}")

    def _size(self):
        size = os.fstat(self.raw.fileno()).st_size
        return size * _GZIP_RATIO_GUESS if self._lines.compressed else size

    def _estimated_rows(self, block, n_lines):
        """Estimate the file's events from its first block (for gzip: its ratio so far)."""
        size = os.fstat(self.raw.fileno()).st_size
        if self._lines.compressed:
            size = size * self._lines.bytes_out / max(self.raw.tell(), 1)
        return int(1.02 * size * n_lines / len(block)) + 16

    def _block_bytes(self):
        if self.options.chunk_rows is not None:
            return max(self.options.chunk_rows * (self._lines.peek_row_bytes() or 256), 4096)
        return min(max(self._size() // 32, _MIN_BLOCK_BYTES), _MAX_BLOCK_BYTES)

    def read_into(self, sink):
        """Append every event of the file to ``sink``; return how many there were."""
        block_bytes = self._block_bytes()
        engine_class = _ENGINE_CLASSES.get(self.options.engine)
        engine = engine_class and engine_class(self.schema, self.delimiter, block_bytes)
        bar = _progress_bar(self.path, os.fstat(self.raw.fileno()).st_size,
                            self.options.progress)
        self._lines_read = 0
        try:
            for block, parsed in self._parsed_blocks(engine, block_bytes):
                if parsed is None:
                    parsed = self._parse_carefully(block, self.first_data_line + self._lines_read)
                if self._lines_read == 0:
                    sink.reserve(self._estimated_rows(block, parsed.n_rows))
                sink.append(parsed)
                self._lines_read += parsed.n_rows
                bar.update(self.raw.tell() - bar.n)
        finally:
            bar.close()
        if self._lines_read == 0:
            self.fail("no data rows after the header")
        return self._lines_read

    def _parsed_blocks(self, engine, block_bytes):
        """Yield each block with its checked values from ``engine``, or None, in order.

        An engine with ``parallel_blocks`` above 1 parses that many blocks
        at once in threads; a line too long is reported once the blocks
        before it are read (they may hold an earlier error).
        """
        workers = getattr(engine, "parallel_blocks", 1)
        if workers <= 1:
            for block in self._blocks(block_bytes, self.first_data_line):
                yield block, self._parse_fast(engine, block)
            return
        pending = collections.deque()
        long_line = None
        with ThreadPoolExecutor(workers, thread_name_prefix="higgs-read") as pool:
            try:
                for block in self._lines.blocks(block_bytes):
                    pending.append((block, pool.submit(self._parse_fast, engine, block)))
                    if len(pending) > workers:
                        block, future = pending.popleft()
                        yield block, future.result()
            except LineError as exc:
                long_line = exc
            while pending:
                block, future = pending.popleft()
                yield block, future.result()
        if long_line is not None:
            self._fail_long_line(long_line, self.first_data_line)

    def _parse_fast(self, engine, block):
        """Return the block's checked values from ``engine``, or None (refused or failing)."""
        parsed = engine.parse(block) if engine is not None else None
        if parsed is not None and find_problem(parsed, self.schema) is None:
            return parsed
        return None

    def _parse_carefully(self, block, first_line):
        """Read the block again, field by field; name the first bad value."""
        parsed, syntax = parse_carefully(block, self.schema, self.delimiter)
        problem = find_problem(parsed, self.schema) or syntax
        if problem is not None:
            self.fail(describe(problem, f"line {first_line + problem.row}"))
        return parsed


def _progress_bar(path, total_bytes, progress):
    if progress is None:
        progress = total_bytes >= _PROGRESS_MIN_BYTES and sys.stderr.isatty()
    return tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"reading {os.path.basename(path)}", disable=not progress, leave=False)
