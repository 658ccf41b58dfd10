"""Reading and writing the Kaggle, CERN open-data and UCI Higgs files."""
import csv
import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import with_field

from dropout_layers_higgs.data import (
    KAGGLE_FEATURES,
    KAGGLE_TEST_COLUMNS,
    KAGGLE_TRAIN_COLUMNS,
    OPENDATA_COLUMNS,
    UCI_FEATURES,
    HiggsData,
    HiggsDataError,
    load_higgs,
    write_kaggle_csv,
    write_submission,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAINING = FIXTURES / "kaggle_training_sample.csv"
TEST = FIXTURES / "kaggle_test_sample.csv"
OPENDATA = FIXTURES / "opendata_sample.csv"


def read_rows(path):
    """The fixture as lists of strings, parsed independently of the loader."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def lines_of(path):
    return Path(path).read_text().splitlines()


def write_lines(path, lines, ending="\n"):
    Path(path).write_bytes((ending.join(lines) + ending).encode())
    return path


def load_error(path, **kwargs):
    with pytest.raises(HiggsDataError) as info:
        load_higgs(path, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert message.startswith(str(path)) and "\n" not in message
    return message


def test_layers_do_not_import_the_higgs_subpackage():
    code = "import sys, dropout_layers; print('dropout_layers_higgs' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# --------------------------------------------------------------------------
# The fixtures, column by column


def test_column_constants_follow_the_kaggle_schema():
    assert len(KAGGLE_FEATURES) == 30 and len(UCI_FEATURES) == 28
    assert KAGGLE_FEATURES[0] == "DER_mass_MMC" and KAGGLE_FEATURES[-1] == "PRI_jet_all_pt"
    assert KAGGLE_FEATURES.index("PRI_jet_num") == 22
    assert KAGGLE_TRAIN_COLUMNS == ("EventId",) + KAGGLE_FEATURES + ("Weight", "Label")
    assert OPENDATA_COLUMNS[-2:] == ("KaggleSet", "KaggleWeight")
    assert tuple(read_rows(TRAINING)[0]) == KAGGLE_TRAIN_COLUMNS


def test_training_fixture_parses_every_column_exactly():
    header, rows = read_rows(TRAINING)
    data = load_higgs(TRAINING)
    assert data.format == "kaggle-train" and data.path == str(TRAINING)
    assert data.feature_names == KAGGLE_FEATURES
    assert data.X.dtype == np.float32 and data.X.shape == (20, 30)
    expected_X = np.array([[float(v) for v in row[1:31]] for row in rows], dtype=np.float32)
    np.testing.assert_array_equal(data.X, expected_X)
    np.testing.assert_array_equal(data.event_ids, [int(row[0]) for row in rows])
    assert data.event_ids.dtype == np.int64
    np.testing.assert_array_equal(data.weights, [float(row[31]) for row in rows])
    assert data.weights.dtype == np.float64
    np.testing.assert_array_equal(data.y, [row[32] == "s" for row in rows])
    assert data.y.dtype == np.int8
    assert data.kaggle_set is None and data.kaggle_weight is None


def test_training_fixture_first_row_spot_check():
    data = load_higgs(TRAINING)
    row = dict(zip(KAGGLE_FEATURES, data.X[0].tolist()))
    assert data.event_ids[0] == 100000
    assert row["DER_mass_MMC"] == np.float32(138.47)
    assert row["DER_deltaeta_jet_jet"] == np.float32(0.91)
    assert row["DER_lep_eta_centrality"] == np.float32(0.199)
    assert row["PRI_tau_pt"] == np.float32(32.638)
    assert row["PRI_lep_phi"] == np.float32(-2.414)
    assert row["PRI_met_sumet"] == np.float32(258.733)
    assert row["PRI_jet_num"] == 2.0
    assert row["PRI_jet_subleading_phi"] == np.float32(-2.475)
    assert row["PRI_jet_all_pt"] == np.float32(113.497)
    assert data.weights[0] == 0.00265331133733 and data.y[0] == 1
    # Line 4: no jet-jet variables with one jet, and a failed MMC.
    assert data.X[2, 0] == -999.0 and data.X[2, 22] == 1.0 and data.y[2] == 0
    assert data.X[2, KAGGLE_FEATURES.index("PRI_jet_leading_pt")] == np.float32(44.251)
    assert data.X[2, KAGGLE_FEATURES.index("PRI_jet_subleading_pt")] == -999.0


def test_training_fixture_missing_values_follow_jet_multiplicity():
    data = load_higgs(TRAINING)
    jet_num = data.X[:, KAGGLE_FEATURES.index("PRI_jet_num")]
    assert set(jet_num.tolist()) == {0.0, 1.0, 2.0, 3.0}
    assert set(data.y.tolist()) == {0, 1}
    missing = data.X == -999.0
    leading = [KAGGLE_FEATURES.index(f"PRI_jet_leading_{v}") for v in ("pt", "eta", "phi")]
    dijet = [KAGGLE_FEATURES.index(name) for name in (
        "DER_deltaeta_jet_jet", "DER_mass_jet_jet", "DER_prodeta_jet_jet",
        "DER_lep_eta_centrality", "PRI_jet_subleading_pt", "PRI_jet_subleading_eta",
        "PRI_jet_subleading_phi")]
    np.testing.assert_array_equal(missing[:, leading], np.repeat((jet_num == 0)[:, None], 3, 1))
    np.testing.assert_array_equal(missing[:, dijet], np.repeat((jet_num < 2)[:, None], 7, 1))
    assert missing[:, 0].any()  # DER_mass_MMC is sometimes undefined on its own


def test_test_fixture_has_no_labels_or_weights():
    header, rows = read_rows(TEST)
    assert tuple(header) == KAGGLE_TEST_COLUMNS
    data = load_higgs(TEST)
    assert data.format == "kaggle-test"
    assert data.y is None and data.weights is None
    np.testing.assert_array_equal(data.event_ids, np.arange(350000, 350008))
    np.testing.assert_array_equal(
        data.X, np.array([[float(v) for v in row[1:]] for row in rows], dtype=np.float32))


def test_opendata_fixture_parses_set_and_kaggle_weight():
    header, rows = read_rows(OPENDATA)
    assert tuple(header) == OPENDATA_COLUMNS
    data = load_higgs(OPENDATA)
    assert data.format == "opendata"
    np.testing.assert_array_equal(data.kaggle_set, [row[33] for row in rows])
    assert set(data.kaggle_set.tolist()) == {"t", "b", "v", "u"}
    np.testing.assert_array_equal(data.kaggle_weight, [float(row[34]) for row in rows])
    np.testing.assert_array_equal(data.weights, [float(row[31]) for row in rows])
    np.testing.assert_array_equal(data.y, [row[32] == "s" for row in rows])
    np.testing.assert_array_equal(
        data.X, np.array([[float(v) for v in row[1:31]] for row in rows], dtype=np.float32))


@pytest.mark.parametrize("path, name", [(TRAINING, "kaggle-train"), (TEST, "kaggle-test"),
                                        (OPENDATA, "opendata")])
def test_explicit_format_gives_the_same_result(path, name):
    detected = load_higgs(path)
    explicit = load_higgs(path, format=name)
    assert explicit.format == detected.format == name
    np.testing.assert_array_equal(explicit.X, detected.X)


def test_explicit_format_that_does_not_match_names_the_columns(tmp_path):
    message = load_error(TRAINING, format="kaggle-test")
    assert "unexpected columns 'Weight', 'Label'" in message
    message = load_error(TEST, format="kaggle-train")
    assert "missing columns Weight, Label" in message
    assert "UCI file has no header" in load_error(TRAINING, format="uci")
    with pytest.raises(ValueError, match="format must be one of"):
        load_higgs(TRAINING, format="csv")


# --------------------------------------------------------------------------
# File-level variations that must not change the result


def assert_same_data(a, b):
    for name in ("X", "y", "weights", "event_ids", "kaggle_set", "kaggle_weight"):
        left, right = getattr(a, name), getattr(b, name)
        if left is None:
            assert right is None, name
        else:
            np.testing.assert_array_equal(left, right, err_msg=name)
    assert a.feature_names == b.feature_names and a.format == b.format


@pytest.mark.parametrize("fixture", [TRAINING, OPENDATA])
def test_gzip_crlf_missing_final_newline_and_trailing_blank_lines(tmp_path, fixture):
    reference = load_higgs(fixture)
    raw = fixture.read_bytes()
    variants = {
        "gz.csv": gzip.compress(raw),  # detected by content, not by name
        "crlf.csv": raw.replace(b"\n", b"\r\n"),
        "nofinal.csv": raw.rstrip(b"\n"),
        "blank.csv": raw + b"\n\n  \n",
    }
    for name, content in variants.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert_same_data(load_higgs(path), reference)


@pytest.mark.parametrize("fixture", [TRAINING, TEST, OPENDATA])
def test_small_chunks_give_the_same_result(fixture):
    # chunk_rows=1 means 4 KiB blocks: several per fixture.
    assert_same_data(load_higgs(fixture, chunk_rows=1), load_higgs(fixture))


def test_progress_bar_only_when_asked(capsys):
    load_higgs(TRAINING)
    assert capsys.readouterr().err == ""
    load_higgs(TRAINING, progress=False)
    assert capsys.readouterr().err == ""
    load_higgs(TRAINING, progress=True)
    assert "reading kaggle_training_sample.csv" in capsys.readouterr().err


# --------------------------------------------------------------------------
# Bad input: one specific message each


def test_missing_file_and_directory(tmp_path):
    assert load_error(tmp_path / "nothing.csv").endswith("no such file")
    (tmp_path / "notes.md").write_text("not data\n")
    assert "is a directory with no data files (names ending in .csv" in load_error(tmp_path)


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert load_error(empty).endswith("file is empty")
    blank = write_lines(tmp_path / "blank.csv", ["", ""])
    assert load_error(blank).endswith("file is empty")
    header_only = write_lines(tmp_path / "header.csv", lines_of(TRAINING)[:1])
    assert load_error(header_only).endswith("no data rows after the header")


def test_wrong_header_names_missing_and_unexpected_columns(tmp_path):
    lines = lines_of(TRAINING)
    renamed = [lines[0].replace("DER_mass_MMC", "DER_mass_mmc")] + lines[1:]
    message = load_error(write_lines(tmp_path / "renamed.csv", renamed))
    assert "header does not match the kaggle-train format" in message
    assert "missing columns DER_mass_MMC" in message
    assert "unexpected columns 'DER_mass_mmc'" in message

    header = lines[0].split(",")
    swapped = header[:]
    swapped[1], swapped[2] = swapped[2], swapped[1]
    message = load_error(write_lines(tmp_path / "swapped.csv", [",".join(swapped)] + lines[1:]))
    assert "columns out of order: column 2 is DER_mass_transverse_met_lep, expected " \
           "DER_mass_MMC" in message

    dropped = [",".join(f for f in line.split(",") if f != "PRI_jet_num") for line in lines[:1]]
    message = load_error(write_lines(tmp_path / "dropped.csv", dropped + lines[1:]))
    assert "missing columns PRI_jet_num" in message


def test_unrecognised_first_line(tmp_path):
    path = write_lines(tmp_path / "other.csv", ["id,feature,label", "1,2.0,1"])
    assert "unrecognised first line starting with 'id,feature,label'" in load_error(path)


def test_non_numeric_value_names_line_and_column(tmp_path):
    lines = with_field(lines_of(TRAINING), 5, "PRI_met", "abc")
    message = load_error(write_lines(tmp_path / "bad.csv", lines))
    assert message.endswith("line 5, column PRI_met: non-numeric value 'abc'")
    lines = with_field(lines_of(TRAINING), 9, "DER_pt_h", "")
    message = load_error(write_lines(tmp_path / "empty_field.csv", lines))
    assert message.endswith("line 9, column DER_pt_h: non-numeric value ''")


def test_error_line_numbers_count_across_chunks(tmp_path):
    lines = with_field(lines_of(TRAINING), 19, "PRI_tau_eta", "1.2.3")
    message = load_error(write_lines(tmp_path / "bad.csv", lines), chunk_rows=1)
    assert message.endswith("line 19, column PRI_tau_eta: non-numeric value '1.2.3'")


def test_wrong_number_of_fields(tmp_path):
    lines = lines_of(TRAINING)
    lines[6] = lines[6].rsplit(",", 2)[0] + ",s"  # the Weight column lost
    message = load_error(write_lines(tmp_path / "short.csv", lines))
    assert message.endswith("line 7: expected 33 comma-separated fields, found 32")


def test_blank_line_inside_the_data(tmp_path):
    lines = lines_of(TRAINING)
    message = load_error(write_lines(tmp_path / "blank.csv", lines[:4] + [""] + lines[4:]))
    assert message.endswith("line 5 is empty")


@pytest.mark.parametrize("label", ["x", "1", "S", "signal"])
def test_bad_label(tmp_path, label):
    lines = with_field(lines_of(TRAINING), 4, "Label", label)
    message = load_error(write_lines(tmp_path / "label.csv", lines))
    assert message.endswith(f"line 4: Label must be 's' or 'b', found {label!r}")


def test_bad_kaggle_set(tmp_path):
    lines = with_field(lines_of(OPENDATA), 8, "KaggleSet", "x")
    message = load_error(write_lines(tmp_path / "set.csv", lines))
    assert message.endswith("line 8: KaggleSet must be one of t, b, v, u, found 'x'")


def test_all_events_of_one_class(tmp_path):
    lines = lines_of(TRAINING)
    only_background = [lines[0]] + [line[:-1] + "b" for line in lines[1:]]
    path = write_lines(tmp_path / "background.csv", only_background)
    message = load_error(path)
    assert ("all 20 events are background; training needs both signal and background "
            "events") in message
    assert load_higgs(path, allow_single_class=True).y.sum() == 0


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_nan_and_inf_name_line_and_column(tmp_path, value):
    lines = with_field(lines_of(TRAINING), 3, "DER_pt_h", value)
    message = load_error(write_lines(tmp_path / "nan.csv", lines))
    assert message.endswith(f"line 3, column DER_pt_h: {float(value)} is not a finite number")


@pytest.mark.parametrize("value", ["4", "1.5", "-1"])
def test_jet_multiplicity_must_be_0_to_3(tmp_path, value):
    lines = with_field(lines_of(TRAINING), 6, "PRI_jet_num", value)
    message = load_error(write_lines(tmp_path / "jets.csv", lines))
    assert message.endswith(f"line 6, column PRI_jet_num: expected an integer 0..3, found {value}")


def test_negative_weight_and_fractional_event_id(tmp_path):
    lines = with_field(lines_of(TRAINING), 2, "Weight", "-1.5")
    assert load_error(write_lines(tmp_path / "w.csv", lines)).endswith(
        "line 2, column Weight: weights must be non-negative, found -1.5")
    for value in ("100001.5", "100001.0", "1e5", ""):
        lines = with_field(lines_of(TRAINING), 3, "EventId", value)
        assert load_error(write_lines(tmp_path / "id.csv", lines)).endswith(
            f"line 3, column EventId: expected an integer in int64 range, found {value!r}")


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(TRAINING.read_bytes())[:400])
    assert "cannot read file" in load_error(path)


# --------------------------------------------------------------------------
# UCI


def test_uci_comma_separated_with_exponent_labels_and_gzip(tmp_path):
    rng = np.random.default_rng(0)
    features = np.round(rng.normal(1.0, 0.5, (12, 28)), 6)
    labels = np.array([1, 0] * 6)
    lines = [",".join(["%.18e" % label] + ["%.18e" % v for v in row])
             for label, row in zip(labels, features)]
    assert lines[0].startswith("1.000000000000000000e+00,")
    path = tmp_path / "HIGGS.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    data = load_higgs(path)
    assert data.format == "uci" and data.feature_names == UCI_FEATURES
    np.testing.assert_array_equal(data.y, labels)
    np.testing.assert_array_equal(data.X, features.astype(np.float32))
    assert data.weights is None and data.event_ids is None


def test_uci_bad_label_and_field_count(tmp_path):
    row = ",".join(["0.5"] * 28)
    path = write_lines(tmp_path / "label.csv", ["1," + row, "0," + row, "2," + row])
    assert load_error(path).endswith("line 3: label must be 0 or 1, found 2")
    path = write_lines(tmp_path / "short.csv", ["1," + row, "0," + row[4:]])
    assert load_error(path).endswith("line 2: expected 29 comma-separated fields, found 28")
    path = write_lines(tmp_path / "tabs.csv", ["1\t" + row.replace(",", "\t"), "0\tx"])
    assert load_error(path).endswith("line 2: expected 29 tab-separated fields, found 2")


@pytest.mark.parametrize("name, n_rows", [("binary.train", 7000), ("binary.test", 500)])
def test_uci_sample(uci_sample_dir, name, n_rows):
    path = uci_sample_dir / name
    data = load_higgs(path)
    assert data.format == "uci"
    assert data.X.shape == (n_rows, 28) and data.X.dtype == np.float32
    assert set(np.unique(data.y).tolist()) == {0, 1}
    first = path.read_text().split("\n", 1)[0].split("\t")
    assert data.y[0] == int(first[0])
    expected = np.array(first[1:], dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(data.X[0], expected)


# --------------------------------------------------------------------------
# HiggsData and writers


def test_higgs_data_subset_and_shape_checks():
    data = load_higgs(OPENDATA)
    public = data.subset(data.kaggle_set == "b")
    assert len(public) == int((data.kaggle_set == "b").sum()) == public.n_events
    np.testing.assert_array_equal(public.event_ids, data.event_ids[data.kaggle_set == "b"])
    assert public.kaggle_weight.shape == (len(public),) and public.n_features == 30
    with pytest.raises(ValueError, match=r"y has shape \(3,\), expected \(2,\)"):
        HiggsData(X=np.zeros((2, 30), np.float32), feature_names=KAGGLE_FEATURES,
                  y=np.zeros(3, np.int8))
    with pytest.raises(ValueError, match="to match feature_names"):
        HiggsData(X=np.zeros((2, 29), np.float32), feature_names=KAGGLE_FEATURES)


@pytest.mark.parametrize("name", ["train.csv", "train.csv.gz"])
def test_write_kaggle_csv_round_trip(tmp_path, name):
    original = load_higgs(TRAINING)
    path = tmp_path / name
    write_kaggle_csv(path, original.event_ids, original.X, original.weights, original.y)
    assert_same_data(load_higgs(path), original)
    test_path = tmp_path / ("test_" + name)
    write_kaggle_csv(test_path, original.event_ids, original.X)
    reloaded = load_higgs(test_path)
    assert reloaded.format == "kaggle-test"
    np.testing.assert_array_equal(reloaded.X, original.X)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "test_" + name])


def test_write_kaggle_csv_rejects_inconsistent_input(tmp_path):
    data = load_higgs(TRAINING)
    with pytest.raises(ValueError, match="pass both weights and labels"):
        write_kaggle_csv(tmp_path / "a.csv", data.event_ids, data.X, weights=data.weights)
    with pytest.raises(ValueError, match=r"X has shape \(20, 29\)"):
        write_kaggle_csv(tmp_path / "a.csv", data.event_ids, data.X[:, 1:])
    with pytest.raises(ValueError, match="needs the 30 Kaggle features"):
        write_kaggle_csv(tmp_path / "a.csv", data.event_ids, data.X, feature_names=UCI_FEATURES)
    assert list(tmp_path.iterdir()) == []


def test_write_submission(tmp_path):
    path = tmp_path / "submission.csv"
    event_ids = np.array([350000, 350001, 350002, 350003, 350004, 350005])
    scores = np.array([0.2, 0.9, 0.5, 0.5, 0.05, 0.7])
    write_submission(path, event_ids, scores, threshold=0.5)
    header, rows = read_rows(path)
    assert header == ["EventId", "RankOrder", "Class"]
    assert [int(r[0]) for r in rows] == event_ids.tolist()
    rank = [int(r[1]) for r in rows]
    # Ascending scores: 0.05 (350004), 0.2, 0.5, 0.5 (tie: file order), 0.7, 0.9.
    assert rank == [2, 6, 3, 4, 1, 5]
    assert [r[2] for r in rows] == ["b", "s", "s", "s", "b", "s"]
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]


def test_write_submission_rank_is_a_permutation_and_replaces_atomically(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "submission.csv"
    path.write_text("old content\n")
    scores = np.round(rng.random(1000), 2)  # many ties
    event_ids = rng.permutation(1000) + 350000
    write_submission(path, event_ids, scores, threshold=0.8)
    table = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1), dtype=np.int64)
    classes = np.loadtxt(path, delimiter=",", skiprows=1, usecols=2, dtype=str)
    np.testing.assert_array_equal(np.sort(table[:, 1]), np.arange(1, 1001))
    np.testing.assert_array_equal(table[:, 0], event_ids)
    assert np.all(np.diff(scores[np.argsort(table[:, 1])]) >= 0)  # rank follows score
    np.testing.assert_array_equal(classes == "s", scores >= 0.8)
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]


def test_write_submission_rejects_bad_input(tmp_path):
    path = tmp_path / "s.csv"
    with pytest.raises(ValueError, match="event_ids are not unique"):
        write_submission(path, [1, 1], [0.1, 0.2], 0.5)
    with pytest.raises(ValueError, match="score of EventId 2 is nan"):
        write_submission(path, [1, 2], [0.1, np.nan], 0.5)
    with pytest.raises(ValueError, match="must be 1-d of the same length"):
        write_submission(path, [1, 2, 3], [0.1, 0.2], 0.5)
    with pytest.raises(TypeError, match="event_ids must be integers"):
        write_submission(path, [1.5, 2.5], [0.1, 0.2], 0.5)
    assert not path.exists()
