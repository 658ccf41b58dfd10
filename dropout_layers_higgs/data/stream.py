r"""A data file as blocks of whole lines: compression, line endings, bounded lines.

:func:`open_lines` opens a plain or gzip-compressed file (told by its magic
bytes, not its name) and returns a :class:`LineSource`, which hands out the
first line and then blocks of about ``block_bytes`` bytes, each ending with
a line break, so that a parser never sees half a line.

Line endings are normalised to ``\n``: CRLF everywhere, and a lone CR too
when the file's first 64 KiB hold CRs but no LF (classic Mac files); a lone
CR inside an LF file stays and is reported by the parser. No line may be
longer than :data:`LINE_LIMIT` bytes (1 MiB; the real rows are 250-700
bytes), so a file without line breaks is refused after reading 1 MiB, never
scanned as one giant line.

Examples
--------
>>> import io
>>> lines = LineSource(io.BytesIO(b"a,b\r1,2\r3,4\r\r"))
>>> lines.first_line(), lines.newline
(b'a,b', 'CR')
>>> list(lines.blocks(4096))
[b'1,2\n3,4\n']
"""
import gzip

__all__ = ["open_lines", "LineSource", "LineError", "HEADER_LIMIT", "LINE_LIMIT"]

#: Longest first line (header) read, in bytes.
HEADER_LIMIT = 1 << 16
#: Longest data line, in bytes.
LINE_LIMIT = 1 << 20


class LineError(ValueError):
    """A file's lines cannot be cut (a line too long); the message has no path.

    ``lines_into_block`` (when set) counts the whole lines before the long
    one in the block being cut.
    """

    lines_into_block = None


def open_lines(raw):
    """Return a :class:`LineSource` over the binary file object ``raw``.

    gzip compression is detected from the first two bytes; ``raw`` must be
    seekable.
    """
    magic = raw.read(2)
    raw.seek(0)
    compressed = magic == b"\x1f\x8b"
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
    return LineSource(stream, compressed)


class LineSource:
    """The lines of a binary stream, first the header, then blocks.

    Parameters
    ----------
    stream : binary file object
        Read sequentially, never seeked.
    compressed : bool
        Whether ``stream`` decompresses a gzip file (for size estimates).

    Attributes
    ----------
    newline : {'LF', 'CR'}
        ``'CR'`` when the file ends its lines with a lone carriage return.
    bytes_out : int
        Bytes read from ``stream`` so far (decompressed), the first line included.
    """

    def __init__(self, stream, compressed=False):
        self._stream = stream
        self.compressed = compressed
        self.bytes_out = 0
        self._buffer = b""
        self.newline = "LF"

    def _read(self, size):
        data = self._stream.read(size)
        self.bytes_out += len(data)
        if b"\r" in data:
            if data.endswith(b"\r"):
                data += self._stream.read(1)  # keep a CRLF pair together
            data = data.replace(b"\r\n", b"\n")
            if self.newline == "CR":
                data = data.replace(b"\r", b"\n")
        return data

    def first_line(self):
        """Return line 1 without its line break (``b''`` for an empty file)."""
        head = self._stream.read(HEADER_LIMIT)
        if head.endswith(b"\r"):
            head += self._stream.read(1)
        self.bytes_out += len(head)
        if b"\r" in head and b"\n" not in head:
            self.newline = "CR"
        head = head.replace(b"\r\n", b"\n")
        if self.newline == "CR":
            head = head.replace(b"\r", b"\n")
        cut = head.find(b"\n")
        if cut < 0:
            if len(head) >= HEADER_LIMIT:
                raise LineError(f"line 1 is longer than {HEADER_LIMIT} bytes without a line "
                                "break; not a Higgs CSV file")
            cut = len(head)
        self._buffer = head[cut + 1:]
        return head[:cut]

    def push_back(self, line):
        """Return ``line`` (line 1, when it is data) to the front of the stream."""
        self._buffer = line + b"\n" + self._buffer

    def peek_row_bytes(self):
        """Length of the next line in bytes, or None when unknown."""
        end = self._buffer.find(b"\n")
        return end + 1 if end >= 0 else None

    def blocks(self, block_bytes):
        r"""Yield blocks of whole lines, each ending with ``\n``.

        Blank lines at the end of the file are dropped; a blank line
        anywhere else stays and is reported by the parser. Lines are not
        counted here (the parsers count them as they go); a line that is too
        long raises :class:`LineError` with ``lines_into_block`` set.
        """
        held = None
        blank = None
        try:
            for block in self._whole_line_blocks(block_bytes):
                if block.isspace():
                    blank = blank if blank is not None else block
                    continue
                if held is not None:
                    yield held
                if blank is not None:
                    yield blank
                    blank = None
                held = block
        except LineError:
            # The lines before the long one first: they are counted, and may
            # hold an earlier error.
            for block in (held, blank):
                if block is not None:
                    yield block
            raise
        if held is not None:
            held = _drop_trailing_blank_lines(held)
            if held:
                yield held

    def _whole_line_blocks(self, block_bytes):
        while True:
            data = self._read(max(block_bytes - len(self._buffer), 1))
            buffer, self._buffer = self._buffer, b""
            if data.endswith(b"\n"):
                yield buffer + data if buffer else data
                continue
            cut = data.rfind(b"\n") + 1
            if cut:  # whole lines, then the start of one: joined through a view, one copy
                head, tail = [buffer, memoryview(data)[:cut]], data[cut:]
            else:
                data = buffer + data
                if not data:
                    return
                cut = data.rfind(b"\n") + 1
                head, tail = [memoryview(data)[:cut]], data[cut:]
            if tail:  # the last line goes on: read to its end
                head.append(self._rest_of_line(tail, lambda: b"".join(head).count(b"\n")))
            yield b"".join(head)

    def _rest_of_line(self, tail, count_lines_before):
        """Read until the line started by ``tail`` ends; refuse it past LINE_LIMIT.

        ``count_lines_before()`` counts the block's whole lines before it
        (for the error).
        """
        parts, size = [tail], len(tail)
        while True:
            more = self._read(1 << 16)
            if not more:
                return b"".join(parts) + b"\n"
            end = more.find(b"\n")
            if end >= 0:
                parts.append(more[:end + 1])
                self._buffer = more[end + 1:]
                size += end + 1
            else:
                parts.append(more)
                size += len(more)
            if size > LINE_LIMIT:
                error = LineError(f"is longer than {LINE_LIMIT} bytes; not a Higgs CSV file "
                                  "(or its line breaks are lost)")
                error.lines_into_block = count_lines_before()
                raise error
            if end >= 0:
                return b"".join(parts)


def _drop_trailing_blank_lines(block):
    """Drop the whitespace-only lines at the end of the last block of a file."""
    end = len(block)
    while end:
        start = block.rfind(b"\n", 0, end - 1) + 1
        if block[start:end].strip():
            break
        end = start
    return block[:end]
