"""HiggsData and pandas: frames with the files' column names, checked on the way back."""
from pathlib import Path

import numpy as np
import pytest

from dropout_layers_higgs.data import (
    KAGGLE_FEATURES,
    KAGGLE_TRAIN_COLUMNS,
    OPENDATA_COLUMNS,
    UCI_COLUMNS,
    HiggsData,
    HiggsDataError,
    load_higgs,
)

pd = pytest.importorskip("pandas")

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAINING = FIXTURES / "kaggle_training_sample.csv"
TEST = FIXTURES / "kaggle_test_sample.csv"
OPENDATA = FIXTURES / "opendata_sample.csv"


def assert_same(a, b):
    for name in ("X", "y", "weights", "event_ids", "kaggle_set", "kaggle_weight"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            assert left.dtype == right.dtype, name
            np.testing.assert_array_equal(left, right, err_msg=name)
    assert a.feature_names == b.feature_names and a.format == b.format


def test_as_frame_has_the_file_columns_and_values():
    frame = load_higgs(TRAINING, as_frame=True)
    assert tuple(frame.columns) == KAGGLE_TRAIN_COLUMNS
    reference = pd.read_csv(TRAINING)
    np.testing.assert_array_equal(frame["EventId"], reference["EventId"])
    assert frame["EventId"].dtype == np.int64 and frame["DER_pt_h"].dtype == np.float32
    np.testing.assert_array_equal(frame["Weight"], reference["Weight"])
    assert frame["Label"].astype(str).tolist() == reference["Label"].tolist()
    np.testing.assert_array_equal(frame[list(KAGGLE_FEATURES)].to_numpy(),
                                  reference[list(KAGGLE_FEATURES)].to_numpy(np.float32))


@pytest.mark.parametrize("path", [TRAINING, TEST, OPENDATA])
def test_round_trip_through_a_frame(path):
    data = load_higgs(path, allow_single_class=True)
    frame = data.to_frame()
    assert frame.shape == (data.n_events, len(pd.read_csv(path).columns))
    assert_same(HiggsData.from_frame(frame), data)


def test_round_trip_of_uci_data_and_of_features_alone(tmp_path):
    rng = np.random.default_rng(0)
    rows = [[str(i % 2)] + [f"{v:.4f}" for v in rng.normal(size=28)] for i in range(8)]
    path = tmp_path / "HIGGS.csv"
    path.write_text("".join(",".join(row) + "\n" for row in rows))
    data = load_higgs(path)
    frame = data.to_frame()
    assert tuple(frame.columns) == UCI_COLUMNS and frame["label"].tolist() == [0, 1] * 4
    assert_same(HiggsData.from_frame(frame), data)
    features_only = HiggsData.from_frame(frame.drop(columns="label"))
    assert features_only.y is None and features_only.format is None
    np.testing.assert_array_equal(features_only.X, data.X)


def test_frame_shares_the_feature_memory_unless_copied():
    data = load_higgs(TRAINING)
    assert np.shares_memory(data.to_frame()["DER_pt_h"].to_numpy(), data.X)
    assert not np.shares_memory(data.to_frame(copy=True)["DER_pt_h"].to_numpy(), data.X)


def test_labels_may_be_letters_or_integers():
    frame = load_higgs(TRAINING).to_frame()
    numeric = frame.assign(Label=(frame["Label"] == "s").astype(int))
    as_text = frame.assign(Label=frame["Label"].astype(str))
    expected = load_higgs(TRAINING).y
    for variant in (numeric, as_text):
        np.testing.assert_array_equal(HiggsData.from_frame(variant).y, expected)


def frame_error(frame, **kwargs):
    with pytest.raises(HiggsDataError) as info:
        HiggsData.from_frame(frame, **kwargs)
    message = str(info.value)
    assert message.startswith("DataFrame: ") and "\n" not in message
    return message[len("DataFrame: "):]


def test_missing_reordered_and_unexpected_columns_are_refused():
    frame = load_higgs(TRAINING).to_frame()
    assert frame_error(frame.drop(columns="PRI_met")) == (
        "columns do not match the kaggle-train format: missing columns PRI_met")
    columns = list(frame.columns)
    columns[1], columns[2] = columns[2], columns[1]
    assert frame_error(frame[columns]) == (
        "columns do not match the kaggle-train format: columns out of order: column 2 is "
        "DER_mass_transverse_met_lep, expected DER_mass_MMC")
    assert frame_error(frame.assign(extra=1.0)) == (
        "columns do not match the kaggle-train format: unexpected columns 'extra'")
    assert frame_error(frame, format="opendata").startswith(
        "columns do not match the opendata format: missing columns KaggleSet, KaggleWeight")
    assert tuple(load_higgs(OPENDATA).to_frame().columns) == OPENDATA_COLUMNS


def test_bad_values_in_a_frame_name_row_and_column():
    frame = load_higgs(TRAINING).to_frame()
    bad = frame.copy()
    bad.loc[4, "PRI_met"] = np.nan
    assert frame_error(bad) == "row 4, column PRI_met: missing value"
    bad.loc[4, "PRI_met"] = np.inf
    assert frame_error(bad) == "row 4, column PRI_met: inf is not a finite number"
    bad = frame.copy()
    bad["DER_pt_h"] = bad["DER_pt_h"].astype(np.float64)
    bad.loc[2, "DER_pt_h"] = 1e39
    assert frame_error(bad) == ("row 2, column DER_pt_h: 1e+39 overflows float32 (largest "
                                "magnitude 3.4028235e+38)")
    assert frame_error(frame.assign(Label=["x"] + ["s"] * 19)) == (
        "row 0, column Label: expected 's' or 'b', found 'x'")
    assert frame_error(frame.assign(EventId=frame["EventId"] * 1.0)) == (
        "column EventId has dtype float64, expected integers")
    assert frame_error(frame.assign(EventId=[7] * 20)) == "EventId 7 is on rows 0 and 1"
    text = frame.assign(PRI_met="1.0")
    dtype = text["PRI_met"].dtype
    assert frame_error(text) == f"column PRI_met has dtype {dtype}, expected numbers"
    assert frame_error(frame.assign(Weight=0.0)) == (
        "all 20 weights are zero (column Weight); training and the AMS need positive weights")
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        HiggsData.from_frame(frame.to_numpy())
