"""PyTensor configuration that this library needs to run cleanly.

PyTensor's default linker is numba, whose matrix products go through
numba's own binding to SciPy's BLAS. PyTensor nonetheless probes for a C BLAS
to link against the first time a graph is optimised, and on a pip install
(no system BLAS) that probe warns "could not link to a BLAS installation",
which is irrelevant to the numba linker. When the numba linker is in use and
the user has not chosen ``blas__ldflags`` (through ``PYTENSOR_FLAGS`` or
``.pytensorrc``), we record that no C BLAS is linked, which skips the probe.
A user who selects the C linker keeps PyTensor's own behaviour.
"""
import pytensor

__all__ = ["configure", "user_set", "uses_numba"]


def user_set(key):
    """Whether the user chose PyTensor's setting ``key`` (``PYTENSOR_FLAGS`` or ``.pytensorrc``)."""
    # PyTensor consumes PYTENSOR_FLAGS entries when it registers a setting,
    # so whether the user chose a value is recorded on the setting itself.
    if not pytensor.config._config_var_dict[key].is_default:
        return True
    try:
        pytensor.config.fetch_val_for_key(key)  # a .pytensorrc entry not read yet
    except KeyError:
        return False
    return True


def uses_numba(mode=None):
    """Whether PyTensor compiles ``mode`` (None: its configured default) with the numba linker."""
    config = pytensor.config
    mode = config.mode if mode is None else mode
    return mode == "NUMBA" or (mode in ("Mode", "FAST_RUN") and config.linker in ("auto", "numba"))


def configure():
    """Skip PyTensor's C BLAS probe when the numba linker runs the graphs (see the module notes)."""
    if uses_numba() and not user_set("blas__ldflags"):
        pytensor.config.blas__ldflags = ""
