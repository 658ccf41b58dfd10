"""What every trained model offers, one network or several: scores from raw inputs.

:class:`Predictor` is the common base of
:class:`~dropout_layers.checkpoint.Checkpoint` (one network rebuilt from a
file) and :class:`~dropout_layers.ensemble.Ensemble` (networks whose
predictions are averaged). :func:`dropout_layers.load_checkpoint` returns
one or the other, as the file holds one network or a bag of them, so code
that only scores events needs not know which: both carry the stored
:class:`~dropout_layers.preprocessing.FeaturePipeline` as :attr:`pipeline`,
and both :meth:`~Predictor.predict` and :meth:`~Predictor.predict_mc` apply
it to raw inputs unless told that the inputs are preprocessed already.
"""
from .checks import check_positive_int
from .inputs import check_feature_names
from .preprocessing import PreprocessingError
from .uncertainty import DEFAULT_BATCH_SIZE

__all__ = ["Predictor"]


class Predictor:
    """A trained model that scores inputs, applying its feature pipeline first.

    Subclasses compute the scores of preprocessed features
    (:meth:`_predict_features`, :meth:`_predict_mc_features`); this class
    turns what the caller gives into those features.

    Attributes
    ----------
    path : str or None
        The file the model was loaded from; None for one built in code.
    attrs : dict or None
        The file's root attributes (``format_version``, ``library_version``,
        ``created``, ...); None for a model built in code.
    pipeline : FeaturePipeline or None
        The preprocessing that :meth:`predict` applies to raw inputs.
    preprocessing : object or None
        The preprocessing state as stored (a dict for a loaded model); the
        pipeline is built from it when it is one.
    metadata : dict or None
        Free-form information stored with the model.
    threshold : float or None
        The decision threshold stored with the model (``score >= threshold``
        is signal).
    default_batch_size : int or None
        Rows per forward pass of :meth:`predict` when ``batch_size`` is not
        given (None: all rows at once).

    Examples
    --------
    A bag of two networks saved with its pipeline; :func:`load_checkpoint`
    gives an :class:`~dropout_layers.ensemble.Ensemble`, which scores raw
    rows (here with columns ``mass`` and ``pt``):

    >>> import os, tempfile
    >>> import numpy as np
    >>> import dropout_layers as dl
    >>> from dropout_layers.predictor import Predictor
    >>> from dropout_layers.preprocessing import FeaturePipeline, Standardize
    >>> pipeline = FeaturePipeline(["mass", "pt"], [Standardize([0, 1], [100.0, 30.0],
    ...                                                         [20.0, 10.0])])
    >>> with dl.random.seeded(0):
    ...     members = [dl.DenseLayer(dl.InputLayer((None, 2)), 1) for _ in range(2)]
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "bag.h5")
    >>> dl.save_ensemble(path, dl.Ensemble(members, preprocessing=pipeline))
    >>> model = dl.load_checkpoint(path)
    >>> type(model).__name__, isinstance(model, Predictor), model.feature_names
    ('Ensemble', True, ['mass', 'pt'])
    >>> raw = np.array([[125.0, 42.0], [90.0, 18.0]])
    >>> features = pipeline.transform(raw)
    >>> bool((model.predict(raw) == model.predict(features, preprocess=False)).all())
    True
    >>> folder.cleanup()
    """

    path = None
    attrs = None
    pipeline = None
    preprocessing = None
    metadata = None
    threshold = None
    default_batch_size = None

    @property
    def feature_names(self):
        """The raw columns :meth:`predict` takes, in order; None without a pipeline."""
        return None if self.pipeline is None else list(self.pipeline.input_names)

    def _describe(self):
        """How messages name this model: its file, or its class for one built in code."""
        return self.path if self.path is not None else f"this {type(self).__name__}"

    def _no_pipeline_error(self):
        """Return the error for ``preprocess=True`` without a pipeline (subclasses refine it)."""
        return PreprocessingError(f"{self._describe()}: has no feature pipeline to apply "
                                  "(preprocess=True)")

    def preprocessed(self, X, preprocess=None):
        """``X`` as the network takes it.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
        preprocess : None, bool or callable
            See :meth:`predict`.

        Returns
        -------
        array_like
            ``X`` itself when it needs no preprocessing.

        Raises
        ------
        PreprocessingError
            For raw inputs that do not fit the pipeline: a DataFrame with
            missing, extra or reordered columns (the first one at fault is
            named), a wrong width, non-numbers or non-finite values.
        InputError
            For preprocessed features in a DataFrame whose columns are not
            the pipeline's output names.
        """
        if preprocess is False:
            columns = getattr(X, "columns", None)
            if columns is not None and self.pipeline is not None:
                check_feature_names([str(c) for c in columns], self.pipeline.output_names)
            return X
        if callable(preprocess):
            return preprocess(X)
        if preprocess is None:
            return X if self.pipeline is None else self.pipeline.transform(X)
        if preprocess is True:
            if self.pipeline is None:
                raise self._no_pipeline_error()
            return self.pipeline.transform(X)
        raise TypeError(f"preprocess must be None, True, False or a callable, got {preprocess!r}")

    def predict(self, X, batch_size=None, preprocess=None):
        """Deterministic scores (dropout off) of inputs ``X``.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            With a :attr:`pipeline`, raw inputs: an array with the raw
            columns in the order of :attr:`feature_names`, or a DataFrame
            with exactly those columns, in that order (a missing, extra or
            reordered column is refused, naming it). Otherwise (or with
            ``preprocess=False``) the features as the network takes them; a
            DataFrame of those must have the pipeline's output names.
        batch_size : int, optional
            Rows per forward pass; :attr:`default_batch_size` by default.
        preprocess : None, bool or callable
            None (default): apply the :attr:`pipeline` if there is one.
            False: ``X`` is preprocessed already; the way to skip the
            pipeline. True: apply the pipeline, and refuse a model without
            one. A callable is applied to ``X`` instead.

        Returns
        -------
        numpy.ndarray
            See the subclass: one network's outputs, or the members' mean.
        """
        features = self.preprocessed(X, preprocess)
        if batch_size is None:
            batch_size = self.default_batch_size
        else:
            batch_size = check_positive_int(batch_size, "batch_size")
        return self._predict_features(features, batch_size)

    def predict_mc(self, X, n_samples=30, batch_size=DEFAULT_BATCH_SIZE, seed=None,
                   progress=False, preprocess=None):
        """Monte-Carlo dropout: mean and standard deviation of stochastic passes.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            As for :meth:`predict`.
        n_samples : int
            Stochastic passes (per member, for an ensemble).
        batch_size : int
            Rows per forward pass.
        seed : int, optional
            Draw the masks from streams seeded with this value, leaving the
            model's own streams as they were; by default those are used and
            advanced.
        progress : bool
            Show a progress bar.
        preprocess : None, bool or callable
            As for :meth:`predict`.

        Returns
        -------
        mean, std : numpy.ndarray
            float64, per row and output unit.
        """
        features = self.preprocessed(X, preprocess)
        return self._predict_mc_features(features, n_samples, batch_size, seed, progress)

    def _predict_features(self, X, batch_size):
        """Deterministic scores of preprocessed ``X``, ``batch_size`` rows (None: all) at once."""
        raise NotImplementedError

    def _predict_mc_features(self, X, n_samples, batch_size, seed, progress):
        """Monte-Carlo (mean, std) of preprocessed ``X``."""
        raise NotImplementedError

