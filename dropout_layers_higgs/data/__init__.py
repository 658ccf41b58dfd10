"""Readers and writers for the Higgs boson data sets.

Three public releases of the ATLAS/UCI Higgs data are understood:

``kaggle-train`` / ``kaggle-test``
    ``training.csv`` (250,000 events) and ``test.csv`` (550,000 events) of the
    2014 Kaggle Higgs Boson Machine Learning Challenge: a header, then
    ``EventId``, the 30 features of :data:`KAGGLE_FEATURES` and, in the
    training file only, ``Weight`` and ``Label`` (``s`` or ``b``).
``opendata``
    ``atlas-higgs-challenge-2014-v2.csv`` from the CERN Open Data Portal
    (818,238 events): the training columns plus ``KaggleSet`` (``t``
    training, ``b`` public leaderboard, ``v`` private leaderboard, ``u``
    unused) and ``KaggleWeight`` (the weight renormalised within its set).
``uci``
    ``HIGGS.csv`` of the UCI repository (Baldi et al. 2014, 11,000,000 rows):
    no header, the label (1 signal, 0 background) and then the 28 features of
    :data:`UCI_FEATURES`, comma- or tab-separated, no weights.

Any of these may be gzip-compressed; compression is detected from the file's
magic bytes, not its name.

:func:`load_higgs` also reads several files with the same columns (signal and
background apart, a glob, a directory) into one :class:`HiggsData`, and returns
a pandas DataFrame on request (``as_frame=True``); :meth:`HiggsData.from_frame`
goes the other way, checking the frame's columns.

The modules, one concept each:

:mod:`.schema`
    the columns of each format, format detection, header checks;
:mod:`.stream`
    a file as blocks of whole lines (gzip, CRLF and CR-only line endings);
:mod:`.arrow_engine`, :mod:`.numpy_engine`
    the fast parsers of a block (pyarrow's multithreaded reader when the
    ``pandas`` extra is installed, else NumPy's);
:mod:`.validator`
    the careful line-by-line parser that defines what is accepted and names
    the file, line and column of the first bad field;
:mod:`.values`, :mod:`.dataset_checks`
    the checks of values per block and of the whole data set;
:mod:`.accumulate`
    arrays that grow in place, so the feature matrix exists once;
:mod:`.sources`, :mod:`.reader`, :mod:`.load`
    which files to read, reading one file, reading them all;
:mod:`.container`, :mod:`.frames`
    :class:`HiggsData`, and its conversion to and from DataFrames;
:mod:`.writers`
    the Kaggle CSV and submission writers.
"""
from ..errors import HiggsDataError
from .container import DataSource, HiggsData
from .load import load_higgs
from .reader import ENGINES
from .schema import (
    FORMATS,
    KAGGLE_FEATURES,
    KAGGLE_SETS,
    KAGGLE_TEST_COLUMNS,
    KAGGLE_TRAIN_COLUMNS,
    MISSING_VALUE,
    OPENDATA_COLUMNS,
    UCI_COLUMNS,
    UCI_FEATURES,
)
from .sources import DATA_SUFFIXES
from .writers import write_kaggle_csv, write_submission, write_uci_csv

__all__ = [
    "HiggsData", "DataSource", "HiggsDataError", "load_higgs", "write_kaggle_csv",
    "write_submission", "write_uci_csv", "KAGGLE_FEATURES", "UCI_FEATURES", "KAGGLE_TRAIN_COLUMNS",
    "KAGGLE_TEST_COLUMNS", "OPENDATA_COLUMNS", "UCI_COLUMNS", "FORMATS", "KAGGLE_SETS",
    "MISSING_VALUE", "ENGINES", "DATA_SUFFIXES",
]
