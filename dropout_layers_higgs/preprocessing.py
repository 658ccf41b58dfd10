"""Feature preprocessing for the Higgs data sets.

:class:`HiggsPreprocessor` turns raw Kaggle or UCI features into standardised
network inputs. Every statistic is fitted on training data only and kept in a
state of plain arrays and scalars, so that a checkpoint can restore exactly
the transform a network was trained with.
"""
import numpy as np

from .data import MISSING_VALUE

__all__ = ["HiggsPreprocessor"]

_STATE_VERSION = 1
_ROWS_PER_BLOCK = 65536


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
    indicators; see :attr:`output_names`.

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
        self.missing_value = float(missing_value)
        self.skew_threshold = float(skew_threshold)
        self.std_floor = float(std_floor)
        self.feature_names = None

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
    def output_names(self):
        """Names of the output columns: kept features, then ``<first column>_is_missing``
        for each missing-value group.
        """
        self._check_fitted()
        return list(self._output_names)

    @property
    def n_outputs(self):
        """Number of output columns."""
        self._check_fitted()
        return len(self._output_names)

    # ------------------------------------------------------------------

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
            raise ValueError(f"HiggsPreprocessor.fit: X has shape {X.shape}, expected "
                             f"(n_events > 0, {len(feature_names)}) to match feature_names")
        if len(set(feature_names)) != len(feature_names):
            raise ValueError("HiggsPreprocessor.fit: feature_names contain duplicates")
        n_features = X.shape[1]
        impute = np.zeros(n_features)
        log_columns = np.zeros(n_features, dtype=bool)
        mean = np.zeros(n_features)
        std = np.ones(n_features)
        missing_masks = {}
        for j in range(n_features):
            column = X[:, j].astype(np.float64)
            _check_finite(column[:, None], feature_names[j:j + 1], 0, "HiggsPreprocessor.fit")
            missing = column == self.missing_value
            defined = column[~missing]
            if missing.any():
                missing_masks[j] = missing
            if defined.size == 0:
                continue  # never defined: imputed with 0, centred at 0
            impute[j] = np.median(defined)
            log_columns[j] = (self.log_transform and defined.min() >= 0
                              and _skewness(defined) > self.skew_threshold)
            filled = np.where(missing, impute[j], column)
            if log_columns[j]:
                filled = np.log1p(filled)
            mean[j] = filled.mean()
            spread = filled.std()
            std[j] = spread if spread > self.std_floor else 1.0

        missing_group = np.full(n_features, -1, dtype=np.int64)
        if self.missing_indicators:
            group_of_mask = {}
            for j, mask in missing_masks.items():
                key = np.packbits(mask).tobytes()
                missing_group[j] = group_of_mask.setdefault(key, len(group_of_mask))
        kept = np.array([j for j, name in enumerate(feature_names)
                         if not (self.drop_phi and name.lower().endswith("phi"))],
                        dtype=np.int64)
        self._set_fitted(feature_names, impute, log_columns, mean, std, kept, missing_group)
        return self

    def transform(self, X, feature_names=None):
        """Apply the fitted transform.

        Parameters
        ----------
        X : array_like, shape (n_events, n_features)
        feature_names : sequence of str, optional
            If given, must equal the names seen by :meth:`fit`; pass them
            whenever they are known, so that data of another feature set
            (or another column order) is refused rather than mangled.

        Returns
        -------
        numpy.ndarray of float32, shape (n_events, n_outputs)
        """
        self._check_fitted()
        self.check_feature_names(feature_names if feature_names is not None
                                 else self.feature_names)
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"HiggsPreprocessor.transform: X has shape {X.shape}, expected "
                             f"(n_events, {len(self.feature_names)})")
        out = np.empty((X.shape[0], self.n_outputs), dtype=np.float32)
        n_kept = len(self.kept_columns)
        for start in range(0, X.shape[0], _ROWS_PER_BLOCK):
            block = X[start:start + _ROWS_PER_BLOCK].astype(np.float64)
            _check_finite(block, self.feature_names, start, "HiggsPreprocessor.transform")
            missing = block == self.missing_value
            block = np.where(missing, self.impute_values, block)
            logged = block[:, self.log_columns]
            block[:, self.log_columns] = np.log1p(np.maximum(logged, 0.0))
            block = (block - self.mean) / self.std
            rows = slice(start, start + block.shape[0])
            out[rows, :n_kept] = block[:, self.kept_columns]
            for group in range(self._n_groups):
                out[rows, n_kept + group] = missing[:, self.missing_group == group].any(axis=1)
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
        else:
            position = next(i for i, (a, b) in enumerate(zip(found, self.feature_names))
                            if a != b)
            detail = (f"column {position + 1} is {found[position]}, expected "
                      f"{self.feature_names[position]}")
        raise ValueError(f"HiggsPreprocessor: features differ from the {len(self.feature_names)} "
                         f"it was fitted on: {detail}")

    # ------------------------------------------------------------------

    def get_state(self):
        """The fitted transform as a dict of arrays, strings, numbers and lists of str.

        Returns
        -------
        dict
            Restorable with :meth:`from_state`; fits an HDF5 group (arrays as
            datasets, the rest as attributes).
        """
        self._check_fitted()
        return {
            "class": "HiggsPreprocessor",
            "version": _STATE_VERSION,
            "log_transform": self.log_transform,
            "drop_phi": self.drop_phi,
            "missing_indicators": self.missing_indicators,
            "missing_value": self.missing_value,
            "skew_threshold": self.skew_threshold,
            "std_floor": self.std_floor,
            "feature_names": list(self.feature_names),
            "output_names": list(self._output_names),
            "impute_values": self.impute_values.copy(),
            "log_columns": self.log_columns.copy(),
            "mean": self.mean.copy(),
            "std": self.std.copy(),
            "kept_columns": self.kept_columns.copy(),
            "missing_group": self.missing_group.copy(),
        }

    @classmethod
    def from_state(cls, state):
        """Rebuild a fitted preprocessor from :meth:`get_state` output.

        Accepts the values as read back from HDF5 as well: NumPy scalars,
        and arrays of ``bytes`` or ``str`` for the name lists.
        """
        required = ("class", "version", "log_transform", "drop_phi", "missing_indicators",
                    "missing_value", "skew_threshold", "std_floor", "feature_names",
                    "output_names", "impute_values", "log_columns", "mean", "std",
                    "kept_columns", "missing_group")
        absent = [key for key in required if key not in state]
        if absent:
            raise ValueError(f"HiggsPreprocessor.from_state: state lacks {', '.join(absent)}")
        if _as_str(state["class"]) != "HiggsPreprocessor":
            raise ValueError(f"HiggsPreprocessor.from_state: state is of class "
                             f"{_as_str(state['class'])!r}")
        if int(state["version"]) != _STATE_VERSION:
            raise ValueError(f"HiggsPreprocessor.from_state: state version {state['version']} "
                             f"is not supported (expected {_STATE_VERSION})")
        self = cls(log_transform=bool(state["log_transform"]), drop_phi=bool(state["drop_phi"]),
                   missing_indicators=bool(state["missing_indicators"]),
                   missing_value=float(state["missing_value"]),
                   skew_threshold=float(state["skew_threshold"]),
                   std_floor=float(state["std_floor"]))
        feature_names = [_as_str(name) for name in state["feature_names"]]
        n_features = len(feature_names)
        arrays = {key: np.asarray(state[key]) for key in
                  ("impute_values", "log_columns", "mean", "std", "missing_group")}
        for key, value in arrays.items():
            if value.shape != (n_features,):
                raise ValueError(f"HiggsPreprocessor.from_state: {key} has shape {value.shape}, "
                                 f"expected ({n_features},)")
        kept = np.asarray(state["kept_columns"], dtype=np.int64).reshape(-1)
        if kept.size and (kept.min() < 0 or kept.max() >= n_features):
            raise ValueError("HiggsPreprocessor.from_state: kept_columns out of range")
        self._set_fitted(feature_names, arrays["impute_values"].astype(np.float64),
                         arrays["log_columns"].astype(bool), arrays["mean"].astype(np.float64),
                         arrays["std"].astype(np.float64), kept,
                         arrays["missing_group"].astype(np.int64))
        stored_names = [_as_str(name) for name in state["output_names"]]
        if stored_names != self._output_names:
            raise ValueError("HiggsPreprocessor.from_state: output_names do not match the "
                             "stored columns and groups")
        return self

    # ------------------------------------------------------------------

    def _set_fitted(self, feature_names, impute, log_columns, mean, std, kept, missing_group):
        self.feature_names = list(feature_names)
        self.impute_values = impute
        self.log_columns = log_columns
        self.mean = mean
        self.std = std
        self.kept_columns = kept
        self.missing_group = missing_group
        self._n_groups = int(missing_group.max()) + 1 if missing_group.size else 0
        group_names = [f"{feature_names[int(np.flatnonzero(missing_group == group)[0])]}"
                       "_is_missing" for group in range(self._n_groups)]
        self._output_names = [feature_names[j] for j in kept] + group_names

    def _check_fitted(self):
        if not self.is_fitted:
            raise RuntimeError("HiggsPreprocessor is not fitted; call fit() or from_state()")


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
        raise ValueError(f"{caller}: row {first_row + row}, column {feature_names[col]} is "
                         f"{block[row, col]}, not a finite number")


def _as_str(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _as_str(value.item())
    return str(value)
