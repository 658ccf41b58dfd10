"""Feature preprocessing that travels with a network: fitted steps a checkpoint can replay.

A network trained on transformed features is only usable with the same
transform. :class:`FeaturePipeline` records such a transform as data, not
code: the names of the raw input columns, then a list of simple steps with
their fitted constants. A checkpoint stores the pipeline
(:meth:`FeaturePipeline.get_state`), so a network rebuilt from the file
predicts from raw inputs without the code that fitted the transform, and an
ONNX export can write the same steps as graph operations.

The steps, each applied to the current columns in order:

:class:`MissingIndicators`
    Append one 0/1 column per group of columns: 1 where any column of the
    group holds the missing-value marker.
:class:`ReplaceValue`
    Replace the marker in some columns by a constant per column (imputation).
:class:`Log1p`
    ``log1p(max(x, 0))`` in some columns.
:class:`Standardize`
    ``(x - mean) / std`` in some columns.
:class:`SelectColumns`
    Keep some columns, in a given order.

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

__all__ = ["Step", "MissingIndicators", "ReplaceValue", "Log1p", "Standardize", "SelectColumns",
           "FeaturePipeline", "STATE_FORMAT", "STATE_VERSION", "register_step"]

#: ``format`` entry of a stored pipeline.
STATE_FORMAT = "dropout_layers.preprocessing"
#: Version of the stored layout this library writes and reads.
STATE_VERSION = 1

_STEPS = {}


def register_step(cls):
    """Make a :class:`Step` subclass loadable by its class name."""
    _STEPS[cls.__name__] = cls
    return cls


def _columns(columns, n_columns, what):
    columns = np.asarray(columns)
    if columns.ndim != 1 or (columns.size and columns.dtype.kind not in "iu"):
        raise ValueError(f"{what}: column indices must be a 1-d list of integers, got {columns!r}")
    columns = columns.astype(np.int64)
    if columns.size and (columns.min() < 0 or columns.max() >= n_columns):
        raise ValueError(f"{what}: column index out of range for {n_columns} columns")
    return columns


def _finite_vector(values, length, what):
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be numbers, got dtype {values.dtype}")
    values = values.astype(np.float64)
    if values.shape != (length,):
        raise ValueError(f"{what} has shape {values.shape}, expected ({length},)")
    if not np.isfinite(values).all():
        raise ValueError(f"{what} holds NaN or infinity")
    return values


def _finite_scalar(value, what):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value}")
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
        """Return the transformed float64 matrix."""
        raise NotImplementedError

    def n_outputs(self, n_inputs):
        """Number of columns this step returns for ``n_inputs`` columns."""
        return n_inputs

    def validate(self, n_inputs):
        """Raise ValueError unless the step fits ``n_inputs`` columns."""

    def get_config(self):
        """The step's constants, as ``type(step)(**config)`` takes them."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({len(self.get_config())} settings)"


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
        self.groups = [[int(c) for c in group] for group in groups]
        if any(not group for group in self.groups):
            raise ValueError("MissingIndicators: every group needs at least one column")

    def validate(self, n_inputs):
        for group in self.groups:
            _columns(group, n_inputs, "MissingIndicators")

    def n_outputs(self, n_inputs):
        return n_inputs + len(self.groups)

    def transform(self, X):
        indicators = [np.any(X[:, group] == self.marker, axis=1) for group in self.groups]
        return np.column_stack([X, *indicators]) if indicators else X

    def get_config(self):
        return {"marker": self.marker, "groups": [list(group) for group in self.groups]}


@register_step
class ReplaceValue(Step):
    """Replace ``marker`` in the given columns by one value per column.

    Parameters
    ----------
    marker : float
    columns : list of int
    values : array_like, one per column
    """

    def __init__(self, marker, columns, values):
        self.marker = _finite_scalar(marker, "ReplaceValue marker")
        self.columns = _columns(columns, np.iinfo(np.int64).max, "ReplaceValue")
        self.values = _finite_vector(values, len(self.columns), "ReplaceValue values")

    def validate(self, n_inputs):
        _columns(self.columns, n_inputs, "ReplaceValue")

    def transform(self, X):
        X = X.copy()
        block = X[:, self.columns]
        X[:, self.columns] = np.where(block == self.marker, self.values, block)
        return X

    def get_config(self):
        return {"marker": self.marker, "columns": self.columns.copy(), "values": self.values.copy()}


@register_step
class Log1p(Step):
    """``log1p(max(x, 0))`` in the given columns (negative values clip to zero first).

    Parameters
    ----------
    columns : list of int
    """

    def __init__(self, columns):
        self.columns = _columns(columns, np.iinfo(np.int64).max, "Log1p")

    def validate(self, n_inputs):
        _columns(self.columns, n_inputs, "Log1p")

    def transform(self, X):
        X = X.copy()
        X[:, self.columns] = np.log1p(np.maximum(X[:, self.columns], 0.0))
        return X

    def get_config(self):
        return {"columns": self.columns.copy()}


@register_step
class Standardize(Step):
    """``(x - mean) / std`` in the given columns.

    Parameters
    ----------
    columns : list of int
    mean, std : array_like, one per column
        ``std`` must be positive and finite.
    """

    def __init__(self, columns, mean, std):
        self.columns = _columns(columns, np.iinfo(np.int64).max, "Standardize")
        self.mean = _finite_vector(mean, len(self.columns), "Standardize mean")
        self.std = _finite_vector(std, len(self.columns), "Standardize std")
        if (self.std <= 0).any():
            raise ValueError(f"Standardize std must be positive, got {self.std[self.std <= 0][0]}")

    def validate(self, n_inputs):
        _columns(self.columns, n_inputs, "Standardize")

    def transform(self, X):
        X = X.copy()
        X[:, self.columns] = (X[:, self.columns] - self.mean) / self.std
        return X

    def get_config(self):
        return {"columns": self.columns.copy(), "mean": self.mean.copy(), "std": self.std.copy()}


@register_step
class SelectColumns(Step):
    """Keep the given columns, in the given order.

    Parameters
    ----------
    columns : list of int
    """

    def __init__(self, columns):
        self.columns = _columns(columns, np.iinfo(np.int64).max, "SelectColumns")

    def validate(self, n_inputs):
        _columns(self.columns, n_inputs, "SelectColumns")

    def n_outputs(self, n_inputs):
        return len(self.columns)

    def transform(self, X):
        return X[:, self.columns]

    def get_config(self):
        return {"columns": self.columns.copy()}


def _names(names, what):
    names = [name.decode() if isinstance(name, bytes) else name for name in names]
    if not all(isinstance(name, str) for name in names):
        raise ValueError(f"{what} must be strings")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} contain duplicates")
    return names


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
    ValueError
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
            raise ValueError(f"{len(self.output_names)} output names for {n_columns} output columns")
        self.dtype = np.dtype(dtype).name

    def __repr__(self):
        return (f"FeaturePipeline({len(self.input_names)} inputs -> {self.n_outputs} outputs, "
                f"{len(self.steps)} steps)")

    def check_columns(self, names):
        """Raise ValueError unless ``names`` are the input names, in order, naming the first difference."""
        found = [str(name) for name in names]
        if found == self.input_names:
            return
        missing = [name for name in self.input_names if name not in found]
        unexpected = [name for name in found if name not in self.input_names]
        if missing or unexpected:
            parts = [f"missing {', '.join(missing[:5])}" if missing else "",
                     f"unexpected {', '.join(unexpected[:5])}" if unexpected else ""]
            detail = "; ".join(part for part in parts if part)
        else:
            position = next(i for i, (a, b) in enumerate(zip(found, self.input_names)) if a != b)
            detail = (f"column {position + 1} is {found[position]!r}, expected "
                      f"{self.input_names[position]!r} (same columns in another order)")
        raise ValueError(f"the columns differ from the {len(self.input_names)} the preprocessing "
                         f"was fitted on: {detail}")

    def _as_matrix(self, X):
        columns = getattr(X, "columns", None)
        if columns is not None:  # a pandas DataFrame: columns are checked by name
            self.check_columns(columns)
            X = X.to_numpy()
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.input_names):
            raise ValueError(f"expected raw inputs of shape (n, {len(self.input_names)}), got "
                             f"{X.shape}")
        if X.dtype.kind not in "biuf":
            raise ValueError(f"raw inputs must be numbers, got dtype {X.dtype}")
        X = X.astype(np.float64)
        bad = ~np.isfinite(X)
        if bad.any():
            row, column = (int(i[0]) for i in np.nonzero(bad))
            raise ValueError(f"raw inputs hold {X[row, column]} in row {row}, column "
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
        numpy.ndarray, shape (n, n_outputs), of :attr:`dtype`
        """
        X = self._as_matrix(X)
        for step in self.steps:
            X = step.transform(X)
        return X.astype(self.dtype)

    def get_state(self):
        """The pipeline as nested dicts of strings, numbers, lists and arrays (for a checkpoint)."""
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

        Raises
        ------
        ValueError
            One line naming what is wrong: the format or version, an unknown
            step, a missing or malformed constant.
        """
        if not cls.is_state(state):
            raise ValueError("not a stored feature pipeline (no 'format' "
                             f"{STATE_FORMAT!r})")
        version = state.get("version")
        if not isinstance(version, (int, np.integer)) or int(version) != STATE_VERSION:
            raise ValueError(f"feature pipeline version {version!r} is not supported "
                             f"(this library reads version {STATE_VERSION})")
        for key in ("input_names", "output_names", "steps"):
            if key not in state:
                raise ValueError(f"feature pipeline lacks {key!r}")
        steps_state = state["steps"]
        if not isinstance(steps_state, dict):
            raise ValueError("feature pipeline 'steps' must be a mapping")
        steps = [_step_from_state(key, steps_state[key])
                 for key in sorted(steps_state, key=_step_index)]
        dtype = _text(state.get("dtype", "float32"))
        if dtype not in ("float32", "float64"):
            raise ValueError(f"feature pipeline dtype must be float32 or float64, got {dtype!r}")
        return cls(list(state["input_names"]), steps, list(state["output_names"]), dtype)


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _step_index(key):
    if not str(key).isdigit():
        raise ValueError(f"feature pipeline step key {key!r} is not an index")
    return int(key)


def _step_from_state(key, entry):
    if not isinstance(entry, dict) or "class" not in entry:
        raise ValueError(f"feature pipeline step {key} has no class")
    name = _text(entry["class"])
    if name not in _STEPS:
        raise ValueError(f"feature pipeline step {key} has unknown class {name!r}; known: "
                         f"{', '.join(sorted(_STEPS))}")
    config = {k: v for k, v in entry.items() if k != "class"}
    try:
        return _STEPS[name](**config)
    except TypeError as exc:
        raise ValueError(f"feature pipeline step {key} ({name}): {exc}") from None
