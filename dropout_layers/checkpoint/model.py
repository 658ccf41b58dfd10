"""The loaded checkpoint: a rebuilt network, what was stored beside it, and raw-input prediction."""
import math

import numpy as np

from .. import random as dl_random
from ..batching import predict_in_batches
from ..compilation import compile_function
from ..layers.helper import get_output
from ..layers.input import InputLayer
from ..predictor import Predictor
from ..uncertainty import predict_mc
from .build import build_network, set_layer_rngs
from .errors import IncompatibleCheckpointError, MalformedCheckpointError
from .format import state_to_rng
from .read import read_model_state

__all__ = ["Checkpoint", "read_model", "check_pipeline_fits", "finite_threshold"]


class Checkpoint(Predictor):
    """A network rebuilt from a checkpoint, with everything stored beside it.

    A :class:`~dropout_layers.predictor.Predictor`: :meth:`predict` and
    :meth:`predict_mc` apply the stored :attr:`pipeline` to raw inputs
    unless given ``preprocess=False``.

    Attributes
    ----------
    path : str
    network : Layer or list of Layer
        The output layer(s), as passed to :func:`save_checkpoint`.
    layers : OrderedDict
        Checkpoint name -> layer, topologically sorted.
    attrs : dict
        Root attributes: ``format``, ``format_version``, ``library_version``,
        ``pytensor_version``, ``numpy_version``, ``h5py_version``,
        ``created``, ``floatX``, ``weights_dtype``, ``exact_resume``, ...
    architecture : dict
        The stored description of the layers and their wiring.
    metadata, history : JSON values or None
    preprocessing : dict or None
        The stored preprocessing state, as saved.
    pipeline : FeaturePipeline or None
        The preprocessing as a :class:`~dropout_layers.preprocessing.FeaturePipeline`
        when the stored state is one; :meth:`predict` applies it.
    optimizer_state : OrderedDict or None
        Accumulator name -> array, ready for ``OptimizerState.set_values``.
    optimizer_rule : str or None
    rng_states : dict or None
        Layer name -> bit-generator state of its stream.
    global_rng_state : dict or None
        ``{"kind": "RandomState" or "Generator", "state": ...}``.

    Examples
    --------
    A checkpoint saved with a feature pipeline predicts from raw inputs:

    >>> import os, tempfile
    >>> import numpy as np
    >>> import dropout_layers as dl
    >>> from dropout_layers.preprocessing import FeaturePipeline, Standardize
    >>> network = dl.DenseLayer(dl.InputLayer((None, 2), name="x"), 1, name="score")
    >>> pipeline = FeaturePipeline(["mass", "pt"], [Standardize([0, 1], [100.0, 30.0],
    ...                                                         [20.0, 10.0])])
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "model.h5")
    >>> dl.save_checkpoint(path, network, preprocessing=pipeline)
    >>> checkpoint = dl.load_checkpoint(path)
    >>> raw = np.array([[125.0, 42.0], [90.0, 18.0]])
    >>> features = pipeline.transform(raw)
    >>> bool((checkpoint.predict(raw) == checkpoint.predict(features, preprocess=False)).all())
    True
    >>> folder.cleanup()
    """

    def __init__(self, path, network, layers, attrs, stored):
        self.path = str(path)
        self.network = network
        self.layers = layers
        self.attrs = attrs
        self.architecture = stored.architecture
        self.metadata = stored.metadata
        self.history = stored.history
        self.preprocessing = stored.preprocessing
        self.pipeline = stored.pipeline
        self.optimizer_state = stored.optimizer_state
        self.optimizer_rule = stored.optimizer_rule
        self.rng_states = stored.rng_states
        self.global_rng_state = stored.global_rng_state
        self.exact_resume = stored.exact_resume
        self._predict_fn = None

    def __repr__(self):
        return f"<Checkpoint {self.path!r}: {len(self.layers)} layers>"

    @property
    def input_layers(self):
        """The input layers, in topological order."""
        return [layer for layer in self.layers.values() if isinstance(layer, InputLayer)]

    @property
    def input_layer(self):
        """The network's only input layer (ValueError if it has several)."""
        inputs = self.input_layers
        if len(inputs) != 1:
            raise ValueError(f"{self.path}: the network has {len(inputs)} input layers; use "
                             "input_layers")
        return inputs[0]

    @property
    def input_var(self):
        """The symbolic input variable of the only input layer."""
        return self.input_layer.input_var

    @property
    def input_vars(self):
        """The symbolic input variables, in the order of :attr:`input_layers`."""
        return [layer.input_var for layer in self.input_layers]

    @property
    def threshold(self):
        """The decision threshold stored as ``metadata['threshold']``, or None.

        Raises
        ------
        MalformedCheckpointError
            If it is stored but is not a finite number.
        """
        metadata = self.metadata if isinstance(self.metadata, dict) else {}
        return finite_threshold(self.path, metadata.get("threshold"), "metadata threshold")

    def _no_pipeline_error(self):
        return IncompatibleCheckpointError(
            self.path, "stores no feature pipeline to apply (preprocess=True); save it with "
                       "save_checkpoint(..., preprocessing=FeaturePipeline(...))")

    def predict(self, X, batch_size=None, preprocess=None):
        """Deterministic outputs (dropout off) of the network for inputs ``X``.

        The forward pass is compiled on the first call and reused.

        Parameters
        ----------
        X : array_like, pandas.DataFrame or list of array_like
            Raw inputs when the checkpoint stores a feature pipeline (see
            ``preprocess``): an array with the raw columns in the order of
            ``pipeline.input_names``, or a DataFrame with exactly those
            columns, in that order (missing, extra or reordered columns are
            refused). Otherwise the inputs as the network takes them, one
            array per input layer.
        batch_size : int, optional
            Rows per forward pass; all at once by default.
        preprocess : None, bool or callable
            None (default): apply the stored :attr:`pipeline` if there is
            one. False: ``X`` is already preprocessed. True: apply the
            pipeline, and refuse a checkpoint without one. A callable is
            applied to ``X`` instead.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            One array per output layer, as :attr:`network` is one layer or a list.
        """
        return super().predict(X, batch_size, preprocess)

    def _predict_features(self, X, batch_size):
        inputs = self.input_layers
        arrays = list(X) if len(inputs) > 1 else [X]
        if len(arrays) != len(inputs):
            raise ValueError(f"predict: the network has {len(inputs)} input layers, got "
                             f"{len(arrays)} arrays")
        arrays = [np.asarray(a, dtype=layer.input_var.dtype) for a, layer in zip(arrays, inputs)]
        for array, layer in zip(arrays, inputs):
            if array.ndim != len(layer.shape) or any(
                    size is not None and size != got for size, got in zip(layer.shape[1:],
                                                                          array.shape[1:])):
                raise ValueError(f"predict: input for layer {layer.name or 'input'!r} has shape "
                                 f"{array.shape}, expected {layer.shape}")
        if self._predict_fn is None:
            outputs = get_output(self.network if isinstance(self.network, list)
                                 else [self.network], deterministic=True)
            self._predict_fn = compile_function([layer.input_var for layer in inputs], outputs)
        results = predict_in_batches(lambda *batch: list(self._predict_fn(*batch)), arrays,
                                     batch_size)
        return list(results) if isinstance(self.network, list) else results[0]

    def _predict_mc_features(self, X, n_samples, batch_size, seed, progress):
        if isinstance(self.network, list) or len(self.input_layers) != 1:
            raise IncompatibleCheckpointError(
                self.path, "predict_mc needs a network with one input and one output layer; "
                           "use dropout_layers.predict_mc on the layers of your choice")
        return predict_mc(self.network, X, n_samples=n_samples, batch_size=batch_size,
                          seed=seed, progress=progress)

    def restore_rng(self, global_rng=True):
        """Set every stochastic layer's stream (and the global RNG) to the stored state.

        :func:`load_checkpoint` already sets the layers' streams; call this
        to rewind them, and to restore the global generator of
        :func:`dropout_layers.random.get_rng` before continuing training.

        Parameters
        ----------
        global_rng : bool
            Also restore the global generator (in place when it is of the
            stored kind, so references to it see the change).
        """
        if self.rng_states is None:
            raise IncompatibleCheckpointError(self.path, "was saved without RNG state (rng=False)")
        set_layer_rngs(self.path, self.layers, self.rng_states, strict=True)
        if global_rng and self.global_rng_state is not None:
            dl_random.set_rng(state_to_rng(self.global_rng_state, into=dl_random.get_rng()))


def finite_threshold(path, value, what):
    """``value`` as a finite float, None if it is None; MalformedCheckpointError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedCheckpointError(path, f"{what} {value!r} is not a finite number")
    return float(value)


def check_pipeline_fits(path, pipeline, layers):
    """Refuse a feature pipeline whose output width is not the network's input width."""
    if pipeline is None:
        return
    inputs = [layer for layer in layers.values() if isinstance(layer, InputLayer)]
    if len(inputs) != 1 or len(inputs[0].shape) != 2:
        raise MalformedCheckpointError(path, "stores a feature pipeline, which gives one matrix, "
                                             "for a network that does not take one matrix")
    width = inputs[0].shape[1]
    if width is not None and width != pipeline.n_outputs:
        raise MalformedCheckpointError(path, f"its feature pipeline gives {pipeline.n_outputs} "
                                             f"columns but the network takes {width}")


def read_model(path, group, root_attrs):
    """Rebuild the model stored in ``group`` (the file root or an ensemble member)."""
    stored = read_model_state(path, group)
    network, layers = build_network(path, stored.architecture, stored.params)
    if stored.rng_states:
        set_layer_rngs(path, layers, stored.rng_states, strict=False)
    check_pipeline_fits(path, stored.pipeline, layers)
    attrs = dict(root_attrs)
    attrs.update({"weights_dtype": stored.weights_dtype, "exact_resume": stored.exact_resume})
    return Checkpoint(path, network, layers, attrs, stored)
