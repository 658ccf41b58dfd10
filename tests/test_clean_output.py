"""A fresh interpreter prints nothing on import and on a first compiled function."""
from helpers import run_python

FIRST_USE = """
import numpy as np
import dropout_layers as dl
l_in = dl.InputLayer((None, 8))
net = dl.DenseLayer(dl.SwitchDropoutLayer(dl.ReLUDenseLayer(l_in, 16), 0.5), 1,
                    nonlinearity=dl.nonlinearities.sigmoid)
f = dl.function([l_in.input_var], dl.get_output(net))
g = dl.function([l_in.input_var], dl.get_output(net, deterministic=True))
f(np.ones((4, 8), dtype='float32')); g(np.ones((4, 8), dtype='float32'))
"""


def test_import_prints_nothing():
    proc = run_python("import dropout_layers")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


def test_first_compiled_function_prints_nothing_and_warns_nothing():
    proc = run_python("import warnings; warnings.simplefilter('error')\n" + FIRST_USE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


def test_user_choice_of_blas_flags_is_respected():
    proc = run_python(
        "import os; os.environ['PYTENSOR_FLAGS'] = 'blas__ldflags=-lfoo'\n"
        "import pytensor, dropout_layers; print(pytensor.config.blas__ldflags)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "-lfoo"


def test_top_level_names_resolve_without_optional_or_dataset_imports():
    proc = run_python(
        "import sys, dropout_layers as dl\n"
        "missing = [name for name in dl.__all__ if not hasattr(dl, name)]\n"
        "optional = ('ray', 'matplotlib', 'torch', 'dropout_layers_higgs')\n"
        "heavy = [m for m in optional if m in sys.modules]\n"
        "print(missing, heavy, dl.save_checkpoint.__module__, dl.fit.__module__,\n"
        "      dl.predict_mc.__module__)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "[]", "dropout_layers.checkpoint.save",
                                   "dropout_layers.training.trainer", "dropout_layers.uncertainty"]
