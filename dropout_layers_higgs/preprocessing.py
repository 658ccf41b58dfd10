"""Feature preprocessing for the Higgs data sets.

:class:`HiggsPreprocessor` turns raw Kaggle or UCI features into standardised
network inputs. Every statistic is fitted on training data only. The fitted
transform is a :class:`dropout_layers.preprocessing.FeaturePipeline`
(:attr:`HiggsPreprocessor.pipeline`), and :meth:`HiggsPreprocessor.get_state`
is that pipeline's state plus the fit settings, so that a checkpoint saved
with ``preprocessing=preprocessor.get_state()`` predicts from raw events on
its own. ``train_higgs.py`` writes a single network or a bag to
``model.h5``; :func:`dropout_layers.load_checkpoint` reads either (a
``Checkpoint`` or an ``Ensemble``, both ``Predictor``), and both apply this
pipeline before the network::

    model = dl.load_checkpoint("higgs_out/model.h5")
    scores = model.predict(raw_events)     # the 30 raw columns, by name for a DataFrame
    scores = model.predict(features, preprocess=False)   # rows preprocessed already
"""
import numpy as np

from dropout_layers.preprocessing import (
    FeaturePipeline,
    Log1p,
    MissingIndicators,
    ReplaceValue,
    SelectColumns,
    Standardize,
)

from .data import MISSING_VALUE
from .errors import HiggsError

__all__ = ["HiggsPreprocessor", "HiggsPreprocessingError"]

# Version 1 (earlier checkpoints) stored the arrays below; version 2 stores a
# FeaturePipeline state plus the fit settings. from_state reads both.
_STATE_VERSION = 2
_LEGACY_VERSION = 1
_ROWS_PER_BLOCK = 65536
_SETTINGS = ("log_transform", "drop_phi", "missing_indicators", "missing_value",
             "skew_threshold", "std_floor")
_LEGACY_ARRAYS = ("impute_values", "log_columns", "mean", "std", "missing_group")


class HiggsPreprocessingError(HiggsError, ValueError):
    """Features that do not fit a fitted preprocessor, or a state that cannot be restored."""


class HiggsPreprocessor:
    """Impute, log-transform and standardise Higgs features.

    Steps, each fitted on the training data passed to :meth:`fit`:

    1. **Missing values.** Entries equal to ``missing_value`` (-999 in the
       Kaggle data) are replaced by the median of the column's defined
       training values. With ``missing_indicators``, columns whose missing
       entries coincide in every training event form one group (in the Kaggle
       data: ``DER_mass_MMC`` alone; the leading-jet columns, undefined
       without jets; the dijet and subleading-jet columns, undefined with
       fewer than two jets) and each group adds one 0/1 output, 1 where any
       of its columns is missing. One indicator per group rather than per
       column because columns of a group carry the same bit. Data without
       missing values (UCI) has no indicators. A missing entry in a column
       that was always defined in training is imputed without an indicator.
    2. **Log transform.** With ``log_transform``, a column whose defined
       training values are all non-negative and whose skewness exceeds
       ``skew_threshold`` is replaced by ``log1p`` of itself: masses,
       momenta, energy sums and ratios with long upper tails. The choice is
       made from the data rather than from a list of names so that it applies
       to any feature set; it is recorded in the state. Values below zero in
       later data are clipped to zero first.
    3. **Standardisation** to zero mean and unit variance over the training
       data (after steps 1 and 2). A column whose standard deviation is not
       above ``std_floor`` is only centred.
    4. **Dropping angles.** With ``drop_phi``, columns whose name ends in
       ``phi`` (the azimuthal angles ``PRI_*_phi`` in the Kaggle data) are
       left out of the output, as the challenge winner did [1]_: the physics
       is symmetric under a rotation about the beam, so raw angles carry
       little beyond noise.

    The output is the kept columns in input order followed by the missing
    indicators; see :attr:`output_names`. The fitted transform is the
    :class:`~dropout_layers.preprocessing.FeaturePipeline` :attr:`pipeline`:
    ``MissingIndicators`` (if there are groups), ``ReplaceValue`` (the
    medians), ``Log1p``, ``Standardize`` and ``SelectColumns``.

    Parameters
    ----------
    log_transform : bool
        Apply step 2.
    drop_phi : bool
        Apply step 4.
    missing_indicators : bool
        Add the indicators of step 1.
    missing_value : float
        Marker of an undefined feature.
    skew_threshold : float
        Minimum sample skewness of a column to be log-transformed.
    std_floor : float
        Standard deviations at or below this are replaced by 1.

    References
    ----------
    .. [1] G. Melis, "Dissecting the winning solution of the HiggsML
           challenge", JMLR W&CP 42, 57-67 (2015).
    """

    def __init__(self, log_transform=True, drop_phi=False, missing_indicators=True,
                 missing_value=MISSING_VALUE, skew_threshold=1.0, std_floor=1e-6):
        self.log_transform = bool(log_transform)
        self.drop_phi = bool(drop_phi)
        self.missing_indicators = bool(missing_indicators)
        self.missing_value = _finite(missing_value, "missing_value")
        self.skew_threshold = _finite(skew_threshold, "skew_threshold")
        self.std_floor = _finite(std_floor, "std_floor")
        self.feature_names = None
        self._pipeline = None

    def __repr__(self):
        fitted = (f"{len(self.feature_names)} features -> {self.n_outputs} outputs"
                  if self.is_fitted else "not fitted")
        return (f"HiggsPreprocessor(log_transform={self.log_transform}, "
                f"drop_phi={self.drop_phi}, missing_indicators={self.missing_indicators}; "
                f"{fitted})")

    @property
    def is_fitted(self):
        """Whether :meth:`fit` (or :meth:`from_state`) has run."""
        return self.feature_names is not None

    @property
    def pipeline(self):
        """The fitted transform as a :class:`~dropout_layers.preprocessing.FeaturePipeline`."""
        self._check_fitted()
        return self._pipeline

    @property
    def output_names(self):
        """Names of the output columns.

        The kept features, then ``<first column>_is_missing`` for each
        missing-value group.
        """
        self._check_fitted()
        return list(self._pipeline.output_names)

    @property
    def n_outputs(self):
        """Number of output columns."""
        self._check_fitted()
        return self._pipeline.n_outputs

    # ------------------------------------------------------------------

    def _fit_column(self, column):
        """Return (median, logged, mean, std, missing mask) of one training column."""
        missing = column == self.missing_value
        defined = column[~missing]
        if defined.size == 0:
            return 0.0, False, 0.0, 1.0, missing  # never defined: imputed with 0, centred at 0
        median = np.median(defined)
        logged = bool(self.log_transform and defined.min() >= 0
                      and _skewness(defined) > self.skew_threshold)
        filled = np.where(missing, median, column)
        if logged:
            filled = np.log1p(filled)
        spread = filled.std()
        return median, logged, filled.mean(), (spread if spread > self.std_floor else 1.0), missing

    def fit(self, X, feature_names):
        """Fit the transform on training features.

        Parameters
        ----------
        X : array_like, shape (n_events, n_features)
        feature_names : sequence of str, length n_features

        Returns
        -------
        self
        """
        X = np.asarray(X)
        feature_names = [str(name) for name in feature_names]
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != len(feature_names):
            raise HiggsPreprocessingError(
                f"HiggsPreprocessor.fit: X has shape {X.shape}, expected (n_events > 0, "
                f"{len(feature_names)}) to match feature_names")
        if len(set(feature_names)) != len(feature_names):
            raise HiggsPreprocessingError("HiggsPreprocessor.fit: feature_names contain duplicates")
        n_features = X.shape[1]
        columns = []
        for j in range(n_features):
            column = X[:, j].astype(np.float64)
            _check_finite(column[:, None], feature_names[j:j + 1], 0, "HiggsPreprocessor.fit")
            columns.append(self._fit_column(column))
        impute, log_columns, mean, std, masks = (list(values) for values in zip(*columns))
        missing_group = np.full(n_features, -1, dtype=np.int64)
        if self.missing_indicators:
            group_of_mask = {}
            for j, mask in enumerate(masks):
                if mask.any():
                    key = np.packbits(mask).tobytes()
                    missing_group[j] = group_of_mask.setdefault(key, len(group_of_mask))
        kept = np.array([j for j, name in enumerate(feature_names)
                         if not (self.drop_phi and name.lower().endswith("phi"))], dtype=np.int64)
        self._set_fitted(feature_names, np.array(impute, dtype=np.float64),
                         np.array(log_columns, dtype=bool), np.array(mean, dtype=np.float64),
                         np.array(std, dtype=np.float64), kept, missing_group)
        return self

    def transform(self, X, feature_names=None):
        """Apply the fitted transform.

        Parameters
        ----------
        X : array_like or pandas.DataFrame, shape (n_events, n_features)
            A DataFrame's columns must be the fitted feature names, in order:
            missing, extra or reordered columns are refused.
        feature_names : sequence of str, optional
            If given, must equal the names seen by :meth:`fit`; pass them
            whenever they are known, so that data of another feature set
            (or another column order) is refused rather than mangled.

        Returns
        -------
        numpy.ndarray of float32, shape (n_events, n_outputs)
        """
        self._check_fitted()
        columns = getattr(X, "columns", None)
        if columns is not None:
            self.check_feature_names(list(columns))
            X = X.to_numpy()
        self.check_feature_names(feature_names if feature_names is not None
                                 else self.feature_names)
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise HiggsPreprocessingError(f"HiggsPreprocessor.transform: X has shape {X.shape}, "
                                          f"expected (n_events, {len(self.feature_names)})")
        if X.dtype.kind not in "biuf":
            raise HiggsPreprocessingError(f"HiggsPreprocessor.transform: X has dtype {X.dtype}, "
                                          "not numbers")
        out = np.empty((X.shape[0], self.n_outputs), dtype=np.float32)
        for start in range(0, X.shape[0], _ROWS_PER_BLOCK):
            block = X[start:start + _ROWS_PER_BLOCK].astype(np.float64)
            _check_finite(block, self.feature_names, start, "HiggsPreprocessor.transform")
            out[start:start + block.shape[0]] = self._pipeline.transform(block)
        return out

    def fit_transform(self, X, feature_names):
        """:meth:`fit`, then :meth:`transform` of the same data."""
        return self.fit(X, feature_names).transform(X, feature_names)

    def check_feature_names(self, feature_names):
        """Raise ValueError unless ``feature_names`` are the fitted names, in order.

        Used by :meth:`transform` and by code resuming from a checkpoint
        made with another feature set.
        """
        self._check_fitted()
        found = [str(name) for name in feature_names]
        if found == self.feature_names:
            return
        missing = [name for name in self.feature_names if name not in found]
        unexpected = [name for name in found if name not in self.feature_names]
        if missing or unexpected:
            detail = "; ".join(part for part in (
                missing and f"missing {', '.join(missing)}",
                unexpected and f"unexpected {', '.join(unexpected)}") if part)
        elif len(found) != len(self.feature_names):
            detail = f"{len(found)} columns for {len(self.feature_names)} (a repeated name?)"
        else:
            position = next(i for i, (a, b) in enumerate(zip(found, self.feature_names))
                            if a != b)
            detail = (f"column {position + 1} is {found[position]}, expected "
                      f"{self.feature_names[position]}")
        raise HiggsPreprocessingError(f"HiggsPreprocessor: features differ from the "
                                      f"{len(self.feature_names)} it was fitted on: {detail}")

    # ------------------------------------------------------------------

    def get_state(self):
        """Return the fitted transform: its FeaturePipeline's state plus the fit settings.

        Returns
        -------
        dict
            :meth:`FeaturePipeline.get_state` (``format``, ``version``,
            ``input_names``, ``output_names``, ``dtype``, ``steps``) with
            ``class``, ``preprocessor_version`` and the constructor's
            settings added. Restorable with :meth:`from_state`, storable in
            a checkpoint, and what
            :meth:`dropout_layers.checkpoint.Checkpoint.predict` applies.
        """
        self._check_fitted()
        state = self._pipeline.get_state()
        state.update({"class": "HiggsPreprocessor", "preprocessor_version": _STATE_VERSION})
        state.update({name: getattr(self, name) for name in _SETTINGS})
        return state

    @classmethod
    def from_state(cls, state):
        """Rebuild a fitted preprocessor from :meth:`get_state` output.

        Reads the current layout and the one of earlier checkpoints (arrays
        ``impute_values``, ``mean``, ... with ``version`` 1). Accepts the
        values as read back from HDF5 as well: NumPy scalars, and arrays of
        ``bytes`` or ``str`` for the name lists.

        Raises
        ------
        ValueError
            One line naming the key or value at fault.
        """
        if not isinstance(state, dict):
            raise HiggsPreprocessingError(f"HiggsPreprocessor.from_state: state is a "
                                          f"{type(state).__name__}, not a dict")
        if _as_str(state.get("class")) != "HiggsPreprocessor":
            raise HiggsPreprocessingError(f"HiggsPreprocessor.from_state: state is of class "
                                          f"{_as_str(state.get('class'))!r}")
        if FeaturePipeline.is_state(state):
            return _from_pipeline_state(cls, state)
        return _from_legacy_state(cls, state)

    # ------------------------------------------------------------------

    def _set_fitted(self, feature_names, impute, log_columns, mean, std, kept, missing_group):
        self.feature_names = list(feature_names)
        self.impute_values = impute
        self.log_columns = log_columns
        self.mean = mean
        self.std = std
        self.kept_columns = kept
        self.missing_group = missing_group
        self._pipeline = _build_pipeline(self)

    def _check_fitted(self):
        if not self.is_fitted:
            raise RuntimeError("HiggsPreprocessor is not fitted; call fit() or from_state()")


def _build_pipeline(pre):
    """Return the FeaturePipeline of a fitted preprocessor's arrays."""
    n = len(pre.feature_names)
    n_groups = int(pre.missing_group.max()) + 1 if pre.missing_group.size else 0
    groups = [np.flatnonzero(pre.missing_group == group).tolist() for group in range(n_groups)]
    every = np.arange(n)
    steps = [MissingIndicators(pre.missing_value, groups)] if groups else []
    steps += [ReplaceValue(pre.missing_value, every, pre.impute_values),
              Log1p(np.flatnonzero(pre.log_columns)),
              Standardize(every, pre.mean, pre.std),
              SelectColumns(np.concatenate([pre.kept_columns, n + np.arange(n_groups)]))]
    names = ([pre.feature_names[j] for j in pre.kept_columns]
             + [f"{pre.feature_names[group[0]]}_is_missing" for group in groups])
    return FeaturePipeline(pre.feature_names, steps, names, dtype="float32")


def _settings(cls, state, what):
    absent = [key for key in _SETTINGS if key not in state]
    if absent:
        raise HiggsPreprocessingError(f"{what}: state lacks {', '.join(absent)}")
    flags = {key: state[key] for key in _SETTINGS[:3]}
    if not all(isinstance(value, (bool, np.bool_)) for value in flags.values()):
        raise HiggsPreprocessingError(f"{what}: log_transform, drop_phi and missing_indicators "
                                      "must be true or false")
    return cls(**{key: bool(value) for key, value in flags.items()},
               **{key: _finite(state[key], f"{what}: {key}") for key in _SETTINGS[3:]})


def _same_state(a, b):
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                and all(_same_state(a[key], b[key]) for key in a))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.all(np.asarray(a) == np.asarray(b)))
    return a == b


def _from_pipeline_state(cls, state):
    what = "HiggsPreprocessor.from_state"
    version = state.get("preprocessor_version")
    if isinstance(version, (bool, np.bool_)) or version != _STATE_VERSION:
        raise HiggsPreprocessingError(f"{what}: state version {version!r:.40} is not supported "
                                      f"(expected {_STATE_VERSION})")
    self = _settings(cls, state, what)
    pipeline = FeaturePipeline.from_state(state)
    self._set_fitted(pipeline.input_names, *_fitted_arrays(pipeline, self.missing_value, what))
    if not _same_state(self._pipeline.get_state(), pipeline.get_state()):
        raise HiggsPreprocessingError(f"{what}: the stored pipeline is not one that a "
                                      "HiggsPreprocessor makes")
    return self


def _fitted_arrays(pipeline, marker, what):
    """Return (impute, log_columns, mean, std, kept, missing_group) read off a pipeline."""
    steps = list(pipeline.steps)
    n = len(pipeline.input_names)
    groups = steps.pop(0).groups if steps and isinstance(steps[0], MissingIndicators) else []
    kinds = [type(step) for step in steps]
    if kinds != [ReplaceValue, Log1p, Standardize, SelectColumns]:
        raise HiggsPreprocessingError(f"{what}: the stored pipeline's steps "
                                      f"{[kind.__name__ for kind in kinds]} are not those of a "
                                      "HiggsPreprocessor")
    replace, log1p, standardize, select = steps
    every = np.arange(n)
    if (not np.array_equal(replace.columns, every) or not np.array_equal(standardize.columns, every)
            or replace.marker != marker):
        raise HiggsPreprocessingError(f"{what}: the stored pipeline does not impute and "
                                      "standardise every column with the stored missing_value")
    missing_group = np.full(n, -1, dtype=np.int64)
    for group, columns in enumerate(groups):
        if (missing_group[columns] != -1).any():
            raise HiggsPreprocessingError(f"{what}: missing-value groups overlap")
        missing_group[columns] = group
    kept = select.columns[:max(len(select.columns) - len(groups), 0)]
    if len(select.columns) < len(groups) or (kept >= n).any():
        raise HiggsPreprocessingError(f"{what}: the stored pipeline's selected columns do not "
                                      "fit its features and groups")
    log_columns = np.zeros(n, dtype=bool)
    log_columns[log1p.columns] = True
    return replace.values, log_columns, standardize.mean, standardize.std, kept, missing_group


def _legacy_arrays(state, n_features, what):
    arrays = {}
    for key in _LEGACY_ARRAYS:
        value = np.asarray(state[key])
        if value.shape != (n_features,) or value.dtype.kind not in "biuf":
            raise HiggsPreprocessingError(f"{what}: {key} has shape {value.shape} and dtype "
                                          f"{value.dtype}, expected ({n_features},) numbers")
        arrays[key] = value
    group = arrays["missing_group"]
    if group.dtype.kind not in "iu" or (group < -1).any() or set(group[group >= 0].tolist()) != set(
            range(int(group.max()) + 1 if group.size else 0)):
        raise HiggsPreprocessingError(f"{what}: missing_group must number groups 0, 1, ... "
                                      "(-1 for none)")
    kept = np.asarray(state["kept_columns"])
    if kept.ndim != 1 or (kept.size and kept.dtype.kind not in "iu") or (
            kept.size and (kept.min() < 0 or kept.max() >= n_features)):
        raise HiggsPreprocessingError(f"{what}: kept_columns out of range")
    return (arrays["impute_values"].astype(np.float64), arrays["log_columns"].astype(bool),
            arrays["mean"].astype(np.float64), arrays["std"].astype(np.float64),
            kept.astype(np.int64), group.astype(np.int64))


def _from_legacy_state(cls, state):
    what = "HiggsPreprocessor.from_state"
    required = ("version", *_SETTINGS, "feature_names", "output_names", *_LEGACY_ARRAYS,
                "kept_columns")
    absent = [key for key in required if key not in state]
    if absent:
        raise HiggsPreprocessingError(f"{what}: state lacks {', '.join(absent)}")
    version = state["version"]
    if isinstance(version, (bool, np.bool_)) or version != _LEGACY_VERSION:
        raise HiggsPreprocessingError(f"{what}: state version {version!r:.40} is not supported "
                                      f"(expected {_LEGACY_VERSION} or a pipeline state)")
    self = _settings(cls, state, what)
    feature_names = _names(state["feature_names"], f"{what}: feature_names")
    self._set_fitted(feature_names, *_legacy_arrays(state, len(feature_names), what))
    if _names(state["output_names"], f"{what}: output_names") != self.output_names:
        raise HiggsPreprocessingError(f"{what}: output_names do not match the stored columns "
                                      "and groups")
    return self


def _names(value, what):
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, bytes)) for v in value):
        raise HiggsPreprocessingError(f"{what} must be a list of names")
    return [_as_str(name) for name in value]


def _finite(value, what):
    if isinstance(value, (bool, np.bool_)):
        raise HiggsPreprocessingError(f"{what} must be a number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise HiggsPreprocessingError(f"{what} must be a number, got {value!r:.40}") from None
    if not np.isfinite(value):
        raise HiggsPreprocessingError(f"{what} must be finite, got {value}")
    return value


def _skewness(values):
    centred = values - values.mean()
    variance = np.mean(centred ** 2)
    if variance <= 0:
        return 0.0
    return float(np.mean(centred ** 3) / variance ** 1.5)


def _check_finite(block, feature_names, first_row, caller):
    finite = np.isfinite(block)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise HiggsPreprocessingError(f"{caller}: row {first_row + row}, column "
                                      f"{feature_names[col]} is {block[row, col]}, not a finite "
                                      "number")


def _as_str(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _as_str(value.item())
    return str(value)
