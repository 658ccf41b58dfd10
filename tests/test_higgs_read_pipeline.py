"""Blocks parsed a few at a time in threads: the same arrays and errors, in file order."""
import io
import random

import numpy as np
import pytest

from dropout_layers_higgs.data import HiggsDataError, load_higgs
from dropout_layers_higgs.data.stream import HEADER_LIMIT, LINE_LIMIT, LineSource

ENGINES = ("arrow", "numpy", "python")


def uci_lines(n_rows):
    rng = np.random.default_rng(n_rows)
    return [",".join([str(i % 2)] + [repr(float(np.float32(v))) for v in rng.normal(size=28)])
            for i in range(n_rows)]


def write(tmp_path, lines, name="uci.csv"):
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode())
    return path


def error(path, engine, **kwargs):
    with pytest.raises(HiggsDataError) as caught:
        load_higgs(path, format="uci", engine=engine, **kwargs)
    return str(caught.value)[len(str(path)) + 2:]


@pytest.mark.parametrize("chunk_rows", [1, 7, 50])
def test_many_small_blocks_give_every_engine_the_same_arrays(tmp_path, chunk_rows):
    path = write(tmp_path, uci_lines(300))
    reference = load_higgs(path, format="uci", engine="python")
    for engine in ENGINES[:2]:
        data = load_higgs(path, format="uci", engine=engine, chunk_rows=chunk_rows)
        np.testing.assert_array_equal(data.X.view(np.int32), reference.X.view(np.int32))
        np.testing.assert_array_equal(data.y, reference.y)


def test_the_first_bad_line_is_named_whichever_block_finishes_first(tmp_path):
    lines = uci_lines(400)
    fields = lines[250].split(",")
    fields[3] = "abc"
    lines[250] = ",".join(fields)
    lines[390] = "1," + "x" * 10  # a later error, in a later block
    path = write(tmp_path, lines)
    expected = "line 251, column lepton_phi: non-numeric value 'abc'"
    for engine in ENGINES:
        assert error(path, engine, chunk_rows=3) == expected
        assert error(path, engine) == expected


def test_an_earlier_error_comes_before_a_later_overlong_line(tmp_path):
    lines = uci_lines(200)
    lines[150] = lines[150] + "9" * (LINE_LIMIT + 1)
    path = write(tmp_path, lines, "long.csv")
    too_long = ("line 151 is longer than 1048576 bytes; not a Higgs CSV file (or its line "
                "breaks are lost)")
    for engine in ENGINES:
        assert error(path, engine, chunk_rows=2) == too_long
    lines[20] = "2," + ",".join(["0.5"] * 28)  # a bad label, many blocks before the long line
    path = write(tmp_path, lines, "long.csv")
    for engine in ENGINES:
        assert error(path, engine, chunk_rows=2) == "line 21: label must be 0 or 1, found 2"


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_blocks_are_whole_lines_that_join_to_the_text(ending):
    rng = random.Random(0)
    lines = [b"x" * rng.randrange(0, 300) + b"." for _ in range(2000)]
    text = ending.join(lines) + ending
    for block_bytes in (1, 17, 4096, 65536, 1 << 20):
        source = LineSource(io.BytesIO(text))
        assert source.first_line() == lines[0]
        blocks = list(source.blocks(block_bytes))
        assert all(block.endswith(b"\n") for block in blocks)
        assert b"".join(blocks) == b"\n".join(lines[1:]) + b"\n"
        if block_bytes >= 4096:  # about block_bytes each (the first: the rest of the head)
            assert all(len(block) < max(block_bytes, HEADER_LIMIT) + 400 for block in blocks)
