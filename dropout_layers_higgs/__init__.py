"""The Higgs Boson Machine Learning Challenge: data, preprocessing and metrics.

Kept out of the top-level :mod:`dropout_layers` namespace: the layers know
nothing of this data set. Import it explicitly::

    from dropout_layers_higgs import load_higgs, HiggsPreprocessor, best_threshold
"""
from . import data, metrics, preprocessing, synthetic
from .data import (
                   FORMATS,
                   KAGGLE_FEATURES,
                   KAGGLE_SETS,
                   MISSING_VALUE,
                   UCI_FEATURES,
                   HiggsData,
                   HiggsDataError,
                   load_higgs,
                   write_kaggle_csv,
                   write_submission,
)
from .metrics import (
                   AMS_B_REG,
                   BACKGROUND_WEIGHT_TOTAL,
                   SIGNAL_WEIGHT_TOTAL,
                   ams,
                   ams_at_fraction,
                   ams_at_threshold,
                   ams_curve,
                   best_threshold,
                   leaderboard_ams,
                   renormalise_weights,
                   threshold_at_fraction,
)
from .preprocessing import HiggsPreprocessor
from .synthetic import PROCESSES, generate_toy_higgs, write_toy_higgs

__all__ = [
    "data", "metrics", "preprocessing", "synthetic",
    "FORMATS", "KAGGLE_FEATURES", "KAGGLE_SETS", "MISSING_VALUE", "UCI_FEATURES",
    "HiggsData", "HiggsDataError", "load_higgs", "write_kaggle_csv", "write_submission",
    "AMS_B_REG", "BACKGROUND_WEIGHT_TOTAL", "SIGNAL_WEIGHT_TOTAL", "ams", "ams_at_fraction",
    "ams_at_threshold", "ams_curve", "best_threshold", "leaderboard_ams",
    "renormalise_weights", "threshold_at_fraction",
    "HiggsPreprocessor", "PROCESSES", "generate_toy_higgs", "write_toy_higgs",
]
