"""Feature preprocessing that travels with a network: fitted steps a checkpoint can replay.

A network trained on transformed features is only usable with the same
transform. :class:`FeaturePipeline` records such a transform as data, not
code: the names of the raw input columns, then a list of simple steps with
their fitted constants. A checkpoint stores the pipeline
(:meth:`FeaturePipeline.get_state`), so a network rebuilt from the file
predicts from raw inputs without the code that fitted the transform
(:meth:`dropout_layers.checkpoint.Checkpoint.predict`), and an ONNX export
can write the same steps as graph operations.

The steps, each applied in float64 to the current matrix in order (the
result is cast to the pipeline's ``dtype`` once, at the end):

:class:`MissingIndicators`
    Append one 0/1 column per group of columns: 1 where any column of the
    group equals the missing-value marker (``Equal``, ``ReduceMax``,
    ``Concat`` in ONNX terms).
:class:`ReplaceValue`
    In some columns, replace the marker by a constant per column
    (imputation; ``Where(Equal(x, marker), value, x)``).
:class:`Log1p`
    ``log1p(max(x, 0))`` in some columns.
:class:`Standardize`
    ``(x - mean) / std`` in some columns.
:class:`SelectColumns`
    Keep some columns, in a given order (``Gather`` on axis 1).

Every constant is checked when a step is made, so a stored pipeline with a
NaN mean, a zero standard deviation or a column index out of range is
refused when it is loaded, not when it is applied.

Examples
--------
>>> import numpy as np
>>> pipeline = FeaturePipeline(["mass", "phi"], [
...     MissingIndicators(-999.0, [[0]]),
...     ReplaceValue(-999.0, [0], [125.0]),
...     Standardize([0], [100.0], [25.0]),
...     SelectColumns([0, 2]),
... ], output_names=["mass", "mass_is_missing"])
>>> pipeline.transform(np.array([[150.0, 0.3], [-999.0, 1.0]]))
array([[2., 0.],
       [1., 1.]], dtype=float32)
>>> FeaturePipeline.from_state(pipeline.get_state()).output_names
['mass', 'mass_is_missing']
"""
import numpy as np

from .errors import DropoutLayersError

__all__ = ["Step", "MissingIndicators", "ReplaceValue", "Log1p", "Standardize", "SelectColumns",
           "FeaturePipeline", "PreprocessingError", "STATE_FORMAT", "STATE_VERSION",
           "register_step"]

#: ``format`` entry of a stored pipeline.
STATE_FORMAT = "dropout_layers.preprocessing"
#: Version of the stored layout this library writes and reads.
STATE_VERSION = 1
_MAX_COLUMN = np.iinfo(np.int64).max

_STEPS = {}


class PreprocessingError(DropoutLayersError, ValueError):
    """Inputs that do not fit a pipeline, or a pipeline (or stored state) that is not sound.

    The message is one line naming the column, step or value at fault.
    """


def register_step(cls):
    """Make a :class:`Step` subclass loadable by its class name."""
    _STEPS[cls.__name__] = cls
    return cls


def _columns(columns, n_columns, what):
    columns = np.asarray(columns)
    if columns.ndim != 1 or (columns.size and columns.dtype.kind not in "iu"):
        raise PreprocessingError(f"{what}: column indices must be a 1-d list of integers, got "
                                 f"{columns!r:.80}")
    columns = columns.astype(np.int64)
    if columns.size and (columns.min() < 0 or columns.max() >= n_columns):
        raise PreprocessingError(f"{what}: column index out of range for {n_columns} columns")
    return columns


def _finite_vector(values, length, what):
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        raise PreprocessingError(f"{what} must be numbers, got dtype {values.dtype}")
    values = values.astype(np.float64)
    if values.shape != (length,):
        raise PreprocessingError(f"{what} has shape {values.shape}, expected ({length},)")
    if not np.isfinite(values).all():
        raise PreprocessingError(f"{what} holds NaN or infinity")
    return values


def _finite_scalar(value, what):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise PreprocessingError(f"{what} must be a number, got {value!r:.80}") from None
    if not np.isfinite(value):
        raise PreprocessingError(f"{what} must be finite, got {value}")
    return value


class Step:
    """One fitted transform of a feature matrix.

    Subclasses define :meth:`transform`, :meth:`n_outputs` (columns out for
    a number of columns in), :meth:`get_config` (JSON values and NumPy
    arrays) and :meth:`validate` (checks the constants against the number of
    input columns, so that a stored pipeline is refused cleanly when it does
    not fit).
    """

    def transform(self, X):
        """Return the transformed float64 matrix (``X`` is not changed)."""
        raise NotImplementedError

    def n_outputs(self, n_inputs):
        """Return the number of columns this step gives for ``n_inputs`` columns."""
        return n_inputs

    def validate(self, n_inputs):
        """Raise PreprocessingError unless the step fits ``n_inputs`` columns."""

    def get_config(self):
        """Return the step's constants, as ``type(step)(**config)`` takes them."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({len(self.get_config())} settings)"


class _ColumnStep(Step):
    """A step that works on some columns and keeps the number of columns."""

    def validate(self, n_inputs):
        """Raise PreprocessingError unless every column index is below ``n_inputs``."""
        _columns(self.columns, n_inputs, type(self).__name__)


@register_step
class MissingIndicators(Step):
    """Append one 0/1 column per group: 1 where any of the group's columns holds ``marker``.

    Parameters
    ----------
    marker : float
        The value that marks a missing entry (-999 in the Higgs data).
    groups : list of list of int
        Column indices of each group.
    """

    def __init__(self, marker, groups):
        self.marker = _finite_scalar(marker, "MissingIndicators marker")
        self.groups = [_columns(group, _MAX_COLUMN, "MissingIndicators").tolist()
                       for group in groups]
        if any(not group for group in self.groups):
            raise PreprocessingError("MissingIndicators: every group needs at least one column")

    def validate(self, n_inputs):
        """Raise PreprocessingError unless every column index is below ``n_inputs``."""
        for group in self.groups:
            _columns(group, n_inputs, "MissingIndicators")

    def n_outputs(self, n_inputs):
        """Return ``n_inputs`` plus one column per group."""
        return n_inputs + len(self.groups)

    def transform(self, X):
        """Return ``X`` with the indicator columns appended."""
        indicators = [np.any(X[:, group] == self.marker, axis=1) for group in self.groups]
        return np.column_stack([X, *indicators]) if indicators else X

    def get_config(self):
        """Return ``marker`` and ``groups``."""
        return {"marker": self.marker, "groups": [list(group) for group in self.groups]}


@register_step
class ReplaceValue(_ColumnStep):
    """Replace ``marker`` in the given columns by one value per column.

    Parameters
    ----------
    marker : float
    columns : list of int
    values : array_like, one per column
    """

    def __init__(self, marker, columns, values):
        self.marker = _finite_scalar(marker, "ReplaceValue marker")
        self.columns = _columns(columns, _MAX_COLUMN, "ReplaceValue")
        self.values = _finite_vector(values, len(self.columns), "ReplaceValue values")

    def transform(self, X):
        """Return ``X`` with the marker replaced."""
        X = X.copy()
        block = X[:, self.columns]
        X[:, self.columns] = np.where(block == self.marker, self.values, block)
        return X

    def get_config(self):
        """Return ``marker``, ``columns`` and ``values``."""
        return {"marker": self.marker, "columns": self.columns.copy(),
                "values": self.values.copy()}


@register_step
class Log1p(_ColumnStep):
    """``log1p(max(x, 0))`` in the given columns (negative values clip to zero first).

    Parameters
    ----------
    columns : list of int
    """

    def __init__(self, columns):
        self.columns = _columns(columns, _MAX_COLUMN, "Log1p")

    def transform(self, X):
        """Return ``X`` with the columns log-transformed."""
        X = X.copy()
        X[:, self.columns] = np.log1p(np.maximum(X[:, self.columns], 0.0))
        return X

    def get_config(self):
        """Return ``columns``."""
        return {"columns": self.columns.copy()}


@register_step
class Standardize(_ColumnStep):
    """``(x - mean) / std`` in the given columns.

    Parameters
    ----------
    columns : list of int
    mean, std : array_like, one per column
        Finite; ``std`` must be positive.
    """

    def __init__(self, columns, mean, std):
        self.columns = _columns(columns, _MAX_COLUMN, "Standardize")
        self.mean = _finite_vector(mean, len(self.columns), "Standardize mean")
        self.std = _finite_vector(std, len(self.columns), "Standardize std")
        if (self.std <= 0).any():
            raise PreprocessingError(f"Standardize std must be positive, got "
                                     f"{self.std[self.std <= 0][0]}")

    def transform(self, X):
        """Return ``X`` with the columns standardised."""
        X = X.copy()
        X[:, self.columns] = (X[:, self.columns] - self.mean) / self.std
        return X

    def get_config(self):
        """Return ``columns``, ``mean`` and ``std``."""
        return {"columns": self.columns.copy(), "mean": self.mean.copy(), "std": self.std.copy()}


@register_step
class SelectColumns(_ColumnStep):
    """Keep the given columns, in the given order.

    Parameters
    ----------
    columns : list of int
    """

    def __init__(self, columns):
        self.columns = _columns(columns, _MAX_COLUMN, "SelectColumns")

    def n_outputs(self, n_inputs):
        """Return the number of columns kept."""
        return len(self.columns)

    def transform(self, X):
        """Return the kept columns."""
        return X[:, self.columns]

    def get_config(self):
        """Return ``columns``."""
        return {"columns": self.columns.copy()}


def _names(names, what):
    names = [name.decode() if isinstance(name, bytes) else name for name in names]
    if not all(isinstance(name, str) for name in names):
        raise PreprocessingError(f"{what} must be strings")
    if len(set(names)) != len(names):
        raise PreprocessingError(f"{what} contain duplicates")
    return names


def _column_difference(found, expected):
    """Return one phrase saying how the column names ``found`` differ from ``expected``."""
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    if missing or unexpected:
        parts = [f"missing {', '.join(missing[:5])}" if missing else "",
                 f"unexpected {', '.join(unexpected[:5])}" if unexpected else ""]
        return "; ".join(part for part in parts if part)
    if len(found) != len(expected):
        return f"{len(found)} columns where {len(expected)} were expected (a repeated name?)"
    position = next(i for i, (a, b) in enumerate(zip(found, expected)) if a != b)
    return (f"column {position + 1} is {found[position]!r}, expected {expected[position]!r} "
            "(the same columns in another order)")


class FeaturePipeline:
    """Named raw columns in, network inputs out: a list of fitted :class:`Step` objects.

    Parameters
    ----------
    input_names : list of str
        The raw columns, in order.
    steps : list of Step
    output_names : list of str, optional
        Names of the output columns (default ``x0, x1, ...``).
    dtype : str
        Dtype of :meth:`transform`'s result.

    Raises
    ------
    PreprocessingError
        If a step does not fit the columns it receives, or the output names
        do not match the number of output columns.
    """

    def __init__(self, input_names, steps, output_names=None, dtype="float32"):
        self.input_names = _names(input_names, "input names")
        self.steps = list(steps)
        n_columns = len(self.input_names)
        for step in self.steps:
            if not isinstance(step, Step):
                raise TypeError(f"steps must be Step instances, got {type(step).__name__}")
            step.validate(n_columns)
            n_columns = step.n_outputs(n_columns)
        self.n_outputs = n_columns
        names = [f"x{i}" for i in range(n_columns)] if output_names is None else output_names
        self.output_names = _names(names, "output names")
        if len(self.output_names) != n_columns:
            raise PreprocessingError(f"{len(self.output_names)} output names for {n_columns} "
                                     "output columns")
        self.dtype = np.dtype(dtype).name

    def __repr__(self):
        return (f"FeaturePipeline({len(self.input_names)} inputs -> {self.n_outputs} outputs, "
                f"{len(self.steps)} steps)")

    def check_columns(self, names):
        """Raise PreprocessingError unless ``names`` are the input names, in order.

        The message names the first difference: missing or unexpected
        columns, or the first column out of place.
        """
        found = [str(name) for name in names]
        if found != self.input_names:
            raise PreprocessingError(
                f"the columns differ from the {len(self.input_names)} the preprocessing was "
                f"fitted on: {_column_difference(found, self.input_names)}"
            )

    def _as_matrix(self, X):
        columns = getattr(X, "columns", None)
        if columns is not None:  # a pandas DataFrame: columns are checked by name
            self.check_columns(columns)
            X = X.to_numpy()
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.input_names):
            raise PreprocessingError(f"expected raw inputs of shape (n, {len(self.input_names)}), "
                                     f"got {X.shape}")
        if X.dtype.kind not in "biuf":
            raise PreprocessingError(f"raw inputs must be numbers, got dtype {X.dtype}")
        X = X.astype(np.float64)
        bad = ~np.isfinite(X)
        if bad.any():
            row, column = (int(i[0]) for i in np.nonzero(bad))
            raise PreprocessingError(f"raw inputs hold {X[row, column]} in row {row}, column "
                                     f"{self.input_names[column]}")
        return X

    def transform(self, X):
        """Apply every step to raw inputs.

        Parameters
        ----------
        X : array_like or pandas.DataFrame, shape (n, len(input_names))
            A DataFrame must have exactly the input names as columns, in
            order; an array is taken to be in that order.

        Returns
        -------
        numpy.ndarray, shape (n, n_outputs), of :attr:`dtype`, C-contiguous

        Raises
        ------
        PreprocessingError
            For missing, extra or reordered DataFrame columns, a wrong
            width, non-numeric or non-finite values.
        """
        X = self._as_matrix(X)
        for step in self.steps:
            X = step.transform(X)
        # C order whatever the steps did: a network's matrix product may round
        # differently on another memory layout.
        return np.ascontiguousarray(X, dtype=self.dtype)

    def get_state(self):
        """Return the pipeline as nested dicts of strings, numbers, lists and arrays."""
        steps = {str(i): {"class": type(step).__name__, **step.get_config()}
                 for i, step in enumerate(self.steps)}
        return {"format": STATE_FORMAT, "version": STATE_VERSION,
                "input_names": list(self.input_names), "output_names": list(self.output_names),
                "dtype": self.dtype, "steps": steps}

    @staticmethod
    def is_state(state):
        """Whether ``state`` claims to be a stored :class:`FeaturePipeline`."""
        return isinstance(state, dict) and _text(state.get("format")) == STATE_FORMAT

    @classmethod
    def from_state(cls, state):
        """Rebuild a pipeline from :meth:`get_state` output, checking every value.

        Accepts the values as read back from HDF5 too (NumPy scalars, arrays
        of names). Every constant is checked: column indices in range,
        markers, means and standard deviations finite, standard deviations
        positive.

        Raises
        ------
        PreprocessingError
            One line naming what is wrong: the format or version, an unknown
            step, a missing or malformed constant.
        """
        if not cls.is_state(state):
            raise PreprocessingError(f"not a stored feature pipeline (no 'format' "
                                     f"{STATE_FORMAT!r})")
        version = state.get("version")
        if (isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer))
                or int(version) != STATE_VERSION):
            raise PreprocessingError(f"feature pipeline version {version!r:.40} is not supported "
                                     f"(this library reads version {STATE_VERSION})")
        for key in ("input_names", "output_names", "steps"):
            if key not in state:
                raise PreprocessingError(f"feature pipeline lacks {key!r}")
        steps_state = state["steps"]
        if not isinstance(steps_state, dict):
            raise PreprocessingError("feature pipeline 'steps' must be a mapping")
        keys = sorted(steps_state, key=_step_index)
        if [_step_index(key) for key in keys] != list(range(len(keys))):
            raise PreprocessingError("feature pipeline steps must be numbered 0, 1, 2, ...")
        steps = [_step_from_state(key, steps_state[key]) for key in keys]
        dtype = _text(state.get("dtype", "float32"))
        if dtype not in ("float32", "float64"):
            raise PreprocessingError(f"feature pipeline dtype must be float32 or float64, got "
                                     f"{dtype!r:.40}")
        return cls(_name_list(state["input_names"], "input_names"), steps,
                   _name_list(state["output_names"], "output_names"), dtype)


def _text(value):
    """Return ``value`` as str if it is text (str, bytes, a 0-d string array), else None."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _name_list(value, what):
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise PreprocessingError(f"feature pipeline {what} must be a list of names")
    return list(value)


def _step_index(key):
    if not isinstance(key, str) or not key.isdigit() or len(key) > 6:
        raise PreprocessingError(f"feature pipeline step key {key!r:.40} is not an index")
    return int(key)


def _step_from_state(key, entry):
    if not isinstance(entry, dict) or "class" not in entry:
        raise PreprocessingError(f"feature pipeline step {key} has no class")
    name = _text(entry["class"])
    if name not in _STEPS:
        raise PreprocessingError(f"feature pipeline step {key} has unknown class {name!r:.40}; "
                                 f"known: {', '.join(sorted(_STEPS))}")
    config = {k: v for k, v in entry.items() if k != "class"}
    try:
        return _STEPS[name](**config)
    except (TypeError, ValueError, OverflowError) as exc:
        raise PreprocessingError(f"feature pipeline step {key} ({name}): {exc}") from None
