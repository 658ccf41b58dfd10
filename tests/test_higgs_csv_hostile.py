"""Hostile CSV files: each finding of the fuzzing pass refused (or read) cleanly, and a fuzzer.

Every test runs the three parsers (pyarrow's, NumPy's and the careful validator alone): they
must give the same arrays or the same one-line error.
"""
import gzip
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from dropout_layers_higgs.data import MISSING_VALUE, HiggsDataError, load_higgs
from dropout_layers_higgs.data.schema import MESSAGE_LIMIT

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAINING = FIXTURES / "kaggle_training_sample.csv"
OPENDATA = FIXTURES / "opendata_sample.csv"
ENGINES = ("arrow", "numpy", "python")
LINES = TRAINING.read_text().splitlines()
HEADER = LINES[0].split(",")


def edited(line_number, column, value, lines=LINES):
    """The training fixture's lines with one field replaced (line numbers count from 1)."""
    lines = list(lines)
    fields = lines[line_number - 1].split(",")
    fields[HEADER.index(column)] = value
    lines[line_number - 1] = ",".join(fields)
    return lines


def write(tmp_path, lines, name="hostile.csv", ending="\n"):
    path = tmp_path / name
    path.write_bytes((ending.join(lines) + ending).encode())
    return path


def outcome(path, engine, **kwargs):
    """('ok', data) or ('error', message without the path); any other exception fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return "ok", load_higgs(path, engine=engine, **kwargs)
        except HiggsDataError as exc:
            message = str(exc)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message and len(message) <= MESSAGE_LIMIT, message
    return "error", message[len(str(path)) + 2:]


def same_outcome(path, **kwargs):
    """The outcome of every engine, checked to agree; returns the first."""
    results = [outcome(path, engine, **kwargs) for engine in ENGINES]
    kind, value = results[0]
    for engine, (other_kind, other) in zip(ENGINES[1:], results[1:]):
        assert other_kind == kind, (engine, results)
        if kind == "error":
            assert other == value, (engine, value, other)
        else:
            for name in ("X", "y", "weights", "event_ids", "kaggle_set", "kaggle_weight"):
                left, right = getattr(value, name), getattr(other, name)
                assert (left is None) == (right is None), name
                if left is not None:
                    assert left.dtype == right.dtype, name
                    np.testing.assert_array_equal(left, right, err_msg=f"{engine} {name}")
    return kind, value


def error_of(path, **kwargs):
    kind, value = same_outcome(path, **kwargs)
    assert kind == "error", "the file was accepted"
    return value


# --------------------------------------------------------------------------
# CR-only line endings: accepted, in linear time, with the right line numbers


def test_cr_only_line_endings_are_read_like_lf(tmp_path):
    reference = load_higgs(TRAINING)
    for ending in ("\r", "\r\n"):
        kind, data = same_outcome(write(tmp_path, LINES, f"cr{len(ending)}.csv", ending))
        assert kind == "ok"
        np.testing.assert_array_equal(data.X, reference.X)
        np.testing.assert_array_equal(data.event_ids, reference.event_ids)


def test_cr_only_file_of_3000_rows_is_read_in_linear_time(tmp_path):
    rows = [LINES[1 + i % 20].replace(str(100000 + i % 20), str(100000 + i), 1)
            for i in range(3000)]
    path = write(tmp_path, [LINES[0]] + rows, ending="\r")
    start = time.perf_counter()
    data = load_higgs(path)
    assert time.perf_counter() - start < 10  # 165 s before; ~0.05 s on an idle core
    assert data.n_events == 3000 and data.event_ids[-1] == 102999
    bad = rows[:2000] + [rows[2000].replace(",", ",x", 1)] + rows[2001:]
    message = error_of(write(tmp_path, [LINES[0]] + bad, "bad_cr.csv", ending="\r"))
    assert message == "line 2002, column DER_mass_MMC: non-numeric value 'x138.47'"


def test_lone_cr_inside_an_lf_file_is_refused_with_its_line(tmp_path):
    lines = edited(6, "PRI_met", "16.824\r")
    assert error_of(write(tmp_path, lines)) == "line 6, column PRI_met: non-numeric value " \
                                               "'16.824\\r'"


# --------------------------------------------------------------------------
# Messages of a few hundred characters at most


def test_huge_header_gives_a_short_message_quickly(tmp_path):
    header = ",".join(["EventId"] + [f"column_{i}" for i in range(5000)])
    path = write(tmp_path, [header, LINES[1]])
    start = time.perf_counter()
    message = error_of(path)
    assert time.perf_counter() - start < 5
    assert message.startswith("header does not match the kaggle-test format: missing columns "
                              "DER_mass_MMC, DER_mass_transverse_met_lep")
    assert "and 25 more" in message and len(message) < MESSAGE_LIMIT


def test_file_without_line_breaks_and_overlong_lines_are_refused(tmp_path):
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"1," + b"0.5," * 100_000)
    assert error_of(path) == ("line 1 is longer than 65536 bytes without a line break; not a "
                              "Higgs CSV file")
    long_line = LINES[:3] + [LINES[3] + "9" * (1 << 20)] + LINES[4:]
    assert error_of(write(tmp_path, long_line, "long.csv")) == (
        "line 4 is longer than 1048576 bytes; not a Higgs CSV file (or its line breaks are lost)")


def test_a_long_bad_field_is_quoted_cut(tmp_path):
    message = error_of(write(tmp_path, edited(4, "PRI_met", "x" * 5000)))
    assert message.startswith("line 4, column PRI_met: non-numeric value 'xxx")
    assert message.endswith("...'") and len(message) < 100


# --------------------------------------------------------------------------
# float32 range


@pytest.mark.parametrize("value", ["1e39", "-1e39", "3.5e38"])
def test_values_beyond_float32_are_refused_with_line_and_column(tmp_path, value):
    message = error_of(write(tmp_path, edited(7, "DER_pt_h", value)))
    assert message == (f"line 7, column DER_pt_h: {float(value)!r} overflows float32 (largest "
                       "magnitude 3.4028235e+38)")


def test_float32_limit_itself_and_huge_weights_pass(tmp_path):
    lines = edited(7, "DER_pt_h", "3.4028234e38")
    lines = edited(8, "Weight", "1e300", lines)
    kind, data = same_outcome(write(tmp_path, lines))
    assert kind == "ok" and np.isfinite(data.X).all() and data.weights[6] == 1e300
    message = error_of(write(tmp_path, edited(8, "Weight", "1e400"), "inf.csv"))
    assert message == "line 8, column Weight: inf is not a finite number"


# --------------------------------------------------------------------------
# Weights that cannot train


def with_weights(weight_of_label):
    lines = [LINES[0]]
    for line in LINES[1:]:
        fields = line.split(",")
        fields[-2] = weight_of_label.get(fields[-1], fields[-2])
        lines.append(",".join(fields))
    return lines


def test_all_weights_zero_is_refused_even_when_scoring(tmp_path):
    path = write(tmp_path, with_weights({"s": "0", "b": "0.0"}))
    expected = "all 20 weights are zero (column Weight); training and the AMS need positive weights"
    assert error_of(path) == expected
    assert error_of(path, allow_single_class=True) == expected


@pytest.mark.parametrize("label, kind, count", [("s", "signal", 7), ("b", "background", 13)])
def test_a_class_without_weight_is_refused_naming_it(tmp_path, label, kind, count):
    path = write(tmp_path, with_weights({label: "0"}))
    assert error_of(path) == (f"all {count} {kind} events have weight zero (column Weight); "
                              f"training and the AMS need a positive {kind} weight")
    assert same_outcome(path, allow_single_class=True)[0] == "ok"


# --------------------------------------------------------------------------
# EventIds: unique, integers, int64 without a float64 on the way


def test_duplicate_event_id_names_both_lines(tmp_path):
    lines = edited(15, "EventId", "100004")
    assert error_of(write(tmp_path, lines)) == "EventId 100004 appears twice, on lines 6 and 15"
    # Across blocks too.
    assert error_of(write(tmp_path, lines), chunk_rows=1) == (
        "EventId 100004 appears twice, on lines 6 and 15")


@pytest.mark.parametrize("value", ["9007199254740993", "-9223372036854775808",
                                   "9223372036854775807", "+7", "007"])
def test_event_ids_are_exact_int64(tmp_path, value):
    kind, data = same_outcome(write(tmp_path, edited(2, "EventId", value)))
    assert kind == "ok" and data.event_ids.dtype == np.int64
    assert data.event_ids[0] == int(value)


@pytest.mark.parametrize("value", ["1e20", "9223372036854775808", "-9223372036854775809",
                                   "100000.0", "1_000", "0x10"])
def test_event_ids_outside_int64_or_not_integers_are_refused(tmp_path, value):
    message = error_of(write(tmp_path, edited(2, "EventId", value)))
    assert message == f"line 2, column EventId: expected an integer in int64 range, found {value!r}"


# --------------------------------------------------------------------------
# Unicode digits and other non-ASCII bytes


@pytest.mark.parametrize("value", ["١٢٣", "１２", "1.5\u00a0", "\u0662.5"])
def test_unicode_digits_are_not_numbers(tmp_path, value):
    message = error_of(write(tmp_path, edited(9, "PRI_tau_eta", value)))
    assert message == f"line 9, column PRI_tau_eta: non-numeric value {value!r}"


def test_invalid_utf8_is_shown_escaped(tmp_path):
    lines = edited(9, "PRI_tau_eta", "@")
    path = write(tmp_path, lines)
    path.write_bytes(path.read_bytes().replace(b"@", b"\xff\xfe"))
    assert error_of(path) == "line 9, column PRI_tau_eta: non-numeric value '\\\\xff\\\\xfe'"


# --------------------------------------------------------------------------
# The fuzzer: random edits of valid files; every parser must agree, and every refusal be one
# clean line


TOKENS = ["", " ", "nan", "-inf", "Infinity", "1e39", "-3.5e38", "1e400", "1e-400", "١٢٣", "+5",
          " 1.5", "1.5 ", "\t1", "0x10", "1_0", "1e", "1e+", ".", "-", "+", "s", "b", "t", "u",
          "S", '"1.5"', "1,5", "1\r5", "\x00", "\x0b1", "9223372036854775808", "-0", "nan(1)",
          "1.", ".5", "5.e3", "1E+05", "9" * 60, "-999.0", "4", "3.0", "2", "-1", "100005",
          "1e20", "9007199254740993", "#", "1.5\n"]


def mutate(raw, rng):
    """One random edit of a file's bytes."""
    lines = raw.split(b"\n")
    kind = rng.integers(9)
    if len(lines) < 3 or len(raw) < 2:
        return raw + b"\n"
    if kind <= 2:  # replace a field by a hostile token
        row = int(rng.integers(len(lines) - 1))
        delimiter = b"\t" if b"\t" in lines[row] else b","
        fields = lines[row].split(delimiter)
        fields[int(rng.integers(len(fields)))] = TOKENS[int(rng.integers(len(TOKENS)))].encode()
        lines[row] = delimiter.join(fields)
        return b"\n".join(lines)
    position = int(rng.integers(len(raw)))
    if kind == 3:  # delete a byte
        return raw[:position] + raw[position + 1:]
    if kind == 4:  # replace a byte by any byte
        return raw[:position] + bytes([int(rng.integers(256))]) + raw[position + 1:]
    if kind == 5:  # truncate
        return raw[:position]
    if kind == 6:  # repeat or drop a line
        row = int(rng.integers(1, len(lines) - 1))
        lines[row:row + 1] = [lines[row]] * int(rng.integers(3))
        return b"\n".join(lines)
    if kind == 7:  # other line endings
        return raw.replace(b"\n", [b"\r", b"\r\n", b"\n\n"][int(rng.integers(3))])
    return gzip.compress(raw)[:int(rng.integers(10, 400))]  # cut gzip stream


def uci_rows(n, delimiter):
    rng = np.random.default_rng(n)
    rows = [[str(i % 2)] + [f"{v:.6g}" for v in rng.normal(1, 0.5, 28)] for i in range(n)]
    return "".join(delimiter.join(row) + "\n" for row in rows).encode()


@pytest.mark.parametrize("fixture, seed", [(TRAINING, 0), (OPENDATA, 1), (TRAINING, 2),
                                           ("uci-tab", 3), ("uci-comma", 4)])
def test_fuzzed_files_give_one_outcome_for_every_parser(tmp_path, fixture, seed):
    rng = np.random.default_rng(seed)
    raw = (uci_rows(20, "\t" if fixture == "uci-tab" else ",") if isinstance(fixture, str)
           else fixture.read_bytes())
    counts = {"ok": 0, "error": 0}
    start = time.perf_counter()
    for trial in range(120):
        content = raw
        for _ in range(int(rng.integers(1, 4))):
            content = mutate(content, rng) or content
        path = tmp_path / f"fuzz_{trial}.csv"
        path.write_bytes(content)
        kind, value = same_outcome(path, allow_single_class=True)
        counts[kind] += 1
        if kind == "ok":
            assert np.isfinite(value.X).all() and value.X.dtype == np.float32
            assert set(np.unique(value.y).tolist()) <= {0, 1}
            if value.weights is not None:
                assert (value.weights >= 0).all()
                assert len(np.unique(value.event_ids)) == len(value.event_ids)
        else:
            assert "cannot parse" not in value, value
        path.unlink()
    assert time.perf_counter() - start < 60
    # The edits must exercise both outcomes.
    assert counts["ok"] >= 5 and counts["error"] >= 60, counts


def test_fuzzed_value_errors_name_the_edited_line(tmp_path):
    rng = np.random.default_rng(3)
    refused = ["nan", "1e39", "١٢٣", "0x10", "1e", "", "x"]
    for trial in range(40):
        line = int(rng.integers(2, 22))
        column = HEADER[int(rng.integers(1, 31))]
        token = refused[int(rng.integers(len(refused)))]
        message = error_of(write(tmp_path, edited(line, column, token)))
        assert message.startswith(f"line {line}, column {column}: "), message


def test_missing_value_marker_is_a_plain_number(tmp_path):
    kind, data = same_outcome(write(tmp_path, edited(3, "PRI_met", "-999")))
    assert kind == "ok" and data.X[1, HEADER.index("PRI_met") - 1] == MISSING_VALUE
