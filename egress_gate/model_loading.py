"""Load a submitted model file — only ever inside the model worker's sandbox (:mod:`egress_gate.sandbox`).

Two walls. This module is the first: a pickle (``.pkl``, ``.pickle``) or joblib file is read by an
unpickler that resolves only names from the modules a scikit-learn model is made of (scikit-learn,
NumPy, SciPy, joblib's array wrapper, a few plain builtins), so a pickle that calls ``os.system``,
``builtins.exec`` or ``subprocess`` is refused by name before anything runs; a ``.skops`` file is
loaded by skops, refusing any type outside skops' defaults and the same allow-list; a ``.keras`` file by Keras in safe mode
(no Python lambdas). The sandbox is the second wall, for what an allowed name could still be
made to do.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

MODEL_TYPES = ("pkl", "pickle", "joblib", "skops", "keras")
_ALLOWED_MODULES = ("sklearn", "numpy", "scipy", "joblib.numpy_pickle", "collections")
_ALLOWED_BUILTINS = frozenset({"slice", "set", "frozenset", "complex", "bytearray", "range", "dict", "list",
                               "tuple", "float", "int", "bool", "str", "bytes", "object"})
_ALLOWED_NAMES = frozenset({("copyreg", "_reconstructor"), ("_codecs", "encode")})
# Inside the allowed packages, modules whose functions run code, open files or load more pickles.
_REFUSED_PARTS = frozenset({"testing", "_testing", "f2py", "distutils", "npyio", "_npyio_impl", "format", "_format_impl",
                            "ctypeslib", "externals", "parallel", "_config", "_show_versions", "datasets", "io"})
_REFUSED_WORDS = ("load", "save", "open", "exec", "eval", "system", "fromfile", "import", "getattr", "compile")


class ModelFileError(ValueError):
    """The model file cannot be loaded safely; the message names what was refused."""


def allowed(module: str, name: str) -> bool:
    """Whether ``module.name`` may be resolved while unpickling a model."""
    if module == "builtins":
        return name in _ALLOWED_BUILTINS
    if (module, name) in _ALLOWED_NAMES:
        return True
    if module.split(".")[0] == "joblib":
        return module == "joblib.numpy_pickle" and name in ("NumpyArrayWrapper", "NDArrayWrapper")
    if not any(module == m or module.startswith(m + ".") for m in _ALLOWED_MODULES):
        return False
    if any(part in _REFUSED_PARTS for part in module.split(".")):
        return False
    return not any(word in name.lower() for word in _REFUSED_WORDS)


def _find_class(module: str, name: str):
    if not allowed(module, name):
        # Names come from the file (which is held): echo a bounded, printable prefix only.
        asked = "".join(c if c.isprintable() else "?" for c in f"{module}.{name}")[:100]
        raise ModelFileError(f"the file asks for {asked}, which a model never needs: it is not loaded "
                             "(a pickle can run any code it names)")
    return None


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        _find_class(module, name)
        return super().find_class(module, name)


def load_model(data: bytes, kind: str):
    """The model in ``data``, a file of type ``kind`` (one of :data:`MODEL_TYPES`); ModelFileError if refused."""
    if kind in ("pkl", "pickle"):
        return _unpickle(lambda: _Unpickler(io.BytesIO(data)).load())
    if kind == "joblib":
        return _unpickle(lambda: _joblib_load(data))
    if kind == "skops":
        return _skops_load(data)
    if kind == "keras":
        return _keras_load(data)
    raise ModelFileError(f".{kind} is not a model file type (accepted: {', '.join(MODEL_TYPES)})")


def _unpickle(load):
    try:
        return load()
    except ModelFileError:
        raise
    except Exception as exc:  # a corrupt or truncated file, a class of another library version
        raise ModelFileError(f"the file cannot be unpickled ({type(exc).__name__}: {str(exc)[:200]})") from None


def _joblib_load(data: bytes):
    """joblib's reader (arrays are stored beside the pickle stream), with the same allow-list; joblib
    routes the nested pickle of an object array through this unpickler's ``find_class`` too."""
    from joblib import numpy_pickle

    class Unpickler(numpy_pickle.NumpyUnpickler):
        def find_class(self, module, name):
            _find_class(module, name)
            return super().find_class(module, name)

    with numpy_pickle._validate_fileobject_and_memmap(io.BytesIO(data), "model", None) as (fobj, _):
        if isinstance(fobj, str):
            raise ModelFileError("the file is in joblib's format from before version 0.10: save the model again")
        return Unpickler("model", fobj, True).load()


def _skops_load(data: bytes):
    import skops.io as sio

    try:
        listed = sio.get_untrusted_types(data=data)  # types beyond skops' own defaults: judged by the same allow-list
        refused = [t for t in listed if "." not in t or not allowed(*t.rsplit(".", 1))]
        if refused:
            asked = "".join(c if c.isprintable() else "?" for c in ", ".join(refused[:3]))[:200]
            raise ModelFileError(f"the skops file asks for {asked}, which a model never needs: it is not loaded")
        return sio.loads(data, trusted=listed)
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"the skops file cannot be read ({type(exc).__name__}: {str(exc)[:200]})") from None


def _keras_load(data: bytes):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    path = Path("model.keras")  # the sandbox's private scratch folder is the working directory
    path.write_bytes(data)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        raise ModelFileError(f"the Keras file cannot be loaded in safe mode ({type(exc).__name__}: {str(exc)[:200]})") from None
    finally:
        path.unlink(missing_ok=True)
