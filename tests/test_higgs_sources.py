"""load_higgs over several files: lists, globs, directories; columns checked, order documented."""
from pathlib import Path

import numpy as np
import pytest

from dropout_layers_higgs.data import DataSource, HiggsDataError, load_higgs

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAINING = FIXTURES / "kaggle_training_sample.csv"
TEST = FIXTURES / "kaggle_test_sample.csv"
LINES = TRAINING.read_text().splitlines()


def split_by_label(tmp_path):
    """sig.csv and bg.csv: the training fixture's signal and background events apart."""
    signal = [line for line in LINES[1:] if line.endswith(",s")]
    background = [line for line in LINES[1:] if line.endswith(",b")]
    sig, bg = tmp_path / "sig.csv", tmp_path / "bg.csv"
    sig.write_text("\n".join([LINES[0]] + signal) + "\n")
    bg.write_text("\n".join([LINES[0]] + background) + "\n")
    return sig, bg, signal, background


def load_error(paths, **kwargs):
    with pytest.raises(HiggsDataError) as info:
        load_higgs(paths, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_signal_and_background_files_concatenate_in_the_order_given(tmp_path):
    sig, bg, signal, background = split_by_label(tmp_path)
    whole = load_higgs(TRAINING)
    data = load_higgs([sig, bg])
    order = np.concatenate([np.flatnonzero(whole.y == 1), np.flatnonzero(whole.y == 0)])
    np.testing.assert_array_equal(data.event_ids, whole.event_ids[order])
    np.testing.assert_array_equal(data.X, whole.X[order])
    np.testing.assert_array_equal(data.weights, whole.weights[order])
    assert data.y.tolist() == [1] * len(signal) + [0] * len(background)
    assert data.sources == (DataSource(str(sig), 2, len(signal)),
                            DataSource(str(bg), 2, len(background)))
    assert data.paths == (str(sig), str(bg)) and data.path == f"{sig}, {bg}"
    assert data.locate(len(signal)) == (str(bg), 2)
    assert data.locate(len(signal) - 1) == (str(sig), len(signal) + 1)
    reversed_order = load_higgs([bg, sig])
    assert reversed_order.y.tolist() == [0] * len(background) + [1] * len(signal)


def test_each_file_alone_is_one_class_but_together_they_train(tmp_path):
    sig, bg, _, _ = split_by_label(tmp_path)
    assert "events are signal" in load_error(sig)
    assert load_higgs([sig, bg]).n_events == 20


def test_glob_and_directory_expand_in_name_order(tmp_path):
    sig, bg, signal, background = split_by_label(tmp_path)
    (tmp_path / "README.md").write_text("notes\n")
    for paths in (tmp_path / "*.csv", tmp_path, str(tmp_path)):
        data = load_higgs(paths)
        assert data.paths == (str(bg), str(sig))  # by name: bg before sig
        assert data.y.tolist() == [0] * len(background) + [1] * len(signal)
    gz = tmp_path / "more"
    gz.mkdir()
    assert "no file matches this pattern" in load_error(tmp_path / "*.tsv")
    assert "is a directory with no data files" in load_error(gz)


def test_a_file_named_twice_is_refused(tmp_path):
    sig, bg, _, _ = split_by_label(tmp_path)
    message = load_error([sig, tmp_path / "*.csv"])
    assert message == f"{sig}: named twice (also as {sig}); each file may be read once"
    with pytest.raises(HiggsDataError, match="no data files given"):
        load_higgs([])


def test_files_whose_columns_differ_are_refused_naming_the_file(tmp_path):
    sig, _, _, _ = split_by_label(tmp_path)
    message = load_error([sig, TEST])
    assert message == (f"{TEST}: has the kaggle-test columns but {sig} has the kaggle-train "
                       "columns; all files must have the same columns")
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(TRAINING.read_text().replace("PRI_met,", "PRI_MET,", 1))
    message = load_error([TRAINING, renamed])
    assert message.startswith(f"{renamed}: header does not match the kaggle-train format: "
                              "missing columns PRI_met")


def test_a_bad_line_names_its_file(tmp_path):
    sig, bg, _, _ = split_by_label(tmp_path)
    lines = bg.read_text().splitlines()
    lines[3] = lines[3].replace(",", ",x", 1)
    bg.write_text("\n".join(lines) + "\n")
    assert load_error([sig, bg]) == f"{bg}: line 4, column DER_mass_MMC: non-numeric value " \
                                    f"'x{lines[3].split(',')[1][1:]}'"


def test_an_event_id_in_two_files_names_both(tmp_path):
    sig, bg, signal, _ = split_by_label(tmp_path)
    lines = bg.read_text().splitlines()
    first_signal_id = signal[0].split(",")[0]
    lines[2] = first_signal_id + lines[2][lines[2].index(","):]
    bg.write_text("\n".join(lines) + "\n")
    assert load_error([sig, bg]) == (f"{bg}: EventId {first_signal_id} appears twice, on line 3 "
                                     f"and on line 2 of {sig}")


def test_uci_files_with_different_delimiters_concatenate(tmp_path):
    rng = np.random.default_rng(0)
    features = np.round(rng.normal(size=(6, 28)), 3)
    for name, delimiter, rows in (("a.csv", ",", slice(0, 3)), ("b.txt", "\t", slice(3, 6))):
        text = "".join(delimiter.join([str(i % 2)] + [repr(float(v)) for v in row]) + "\n"
                       for i, row in enumerate(features[rows]))
        (tmp_path / name).write_text(text)
    data = load_higgs(tmp_path)
    np.testing.assert_array_equal(data.X, features.astype(np.float32))
    assert data.y.tolist() == [0, 1, 0, 0, 1, 0]
    assert data.sources[1] == DataSource(str(tmp_path / "b.txt"), 1, 3)
