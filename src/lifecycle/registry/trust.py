"""Which types a model file may hold, and loading one without running code from it.

A skops file is a zip of arrays plus ``schema.json``, a tree naming the type of every
object in it. Loading rebuilds those objects, so a file that names an unexpected type
could run its code. ``load_file`` reads the tree first and refuses the file unless every
type and function it names is in ``ALLOWED_TYPES``: the scikit-learn pipelines this
project builds, their internal parts, numpy containers and the plain Python values
skops stores. The list was derived by saving such pipelines (every model family, every
task, every preprocessing branch) and listing the types in the files; it is explicit on
purpose, so growing it is a reviewed code change.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from lifecycle.core import files
from lifecycle.registry.store import RegistryError

# Plain values and containers skops rebuilds itself (it never imports them by name).
_PYTHON = (
    "builtins.bool",
    "builtins.dict",
    "builtins.float",
    "builtins.int",
    "builtins.list",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    # HistGradientBoosting* keep a FunctionTransformer(partial(check_array, ...)) for
    # native categorical columns. skops rebuilds a plain functools.partial, and the
    # function inside is checked against this list like any other.
    "functools.partial",
)
_NUMPY = (
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.bool",
    "numpy.bool_",
    "numpy.str_",
    "numpy.object_",
    "numpy.float16",
    "numpy.float32",
    "numpy.float64",
    "numpy.int8",
    "numpy.int16",
    "numpy.int32",
    "numpy.int64",
    "numpy.uint8",
    "numpy.uint16",
    "numpy.uint32",
    "numpy.uint64",
    "numpy.random._generator.Generator",
    "numpy.random.mtrand.RandomState",
    # Functions a FunctionTransformer may call (numpy ufuncs: pure arithmetic).
    "numpy.log1p",
    "numpy.expm1",
)
_SKLEARN = (
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._column_transformer.make_column_selector",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.impute._base.MissingIndicator",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.RobustScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._target_encoder.TargetEncoder",
    "sklearn.preprocessing._label.LabelEncoder",
    # Safe only because the function it calls must itself be on this list.
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.utils.validation.check_array",
    "sklearn.model_selection._split.KFold",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # The losses and links HistGradientBoosting* keep (every loss of both estimators).
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.PinballLoss",
    "sklearn._loss._loss.CyAbsoluteError",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfGammaLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyPinballLoss",
)
ALLOWED_TYPES: frozenset[str] = frozenset(_PYTHON + _NUMPY + _SKLEARN)


def artifact_types(path: Path, where: str | None = None) -> list[str]:
    """Every type and function named in the skops file at ``path``, sorted.

    A file that is not a skops file (not a zip, no readable ``schema.json``) is a
    ``RegistryError``.
    """
    return sorted(_named(_schema(Path(path), where or Path(path).name)))


def check_trusted(path: Path, where: str | None = None) -> list[str]:
    """The types to pass to ``skops.io.load``; a ``RegistryError`` naming any type not allowed."""
    import skops.io as sio

    path, where = Path(path), where or Path(path).name
    named = _named(_schema(path, where))
    try:
        # skops' own audit, which also sees names stored inside values (a random
        # generator's class); whatever it flags must be on the list too.
        flagged = set(sio.get_untrusted_types(file=path))
    except Exception as exc:
        raise _not_skops(where, exc) from exc
    refused = sorted((named | flagged) - ALLOWED_TYPES)
    if refused:
        listed = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        raise RegistryError(
            f"{where} holds {listed}, which the registry does not trust to load (loading could run "
            "code from the file); if you wrote this file and trust the type, add it to ALLOWED_TYPES "
            "in src/lifecycle/registry/trust.py"
        )
    return sorted(flagged)


def load_file(path: Path, where: str | None = None):
    """Load a skops file after checking every type in it against ``ALLOWED_TYPES``.

    Never runs code from the file: a type outside the list is refused before anything
    is built. ``where`` names the file in messages (default: its file name).
    """
    import skops.io as sio

    path = Path(path)
    where = where or path.name
    if not path.is_file():
        raise RegistryError(f"{where} does not exist; save or register the model first")
    files.record_read(path)
    trusted = check_trusted(path, where)
    try:
        return sio.load(path, trusted=trusted)
    except Exception as exc:
        raise RegistryError(
            f"{where} passed the type check but could not be loaded ({type(exc).__name__}: {exc}); "
            "it may come from another skops or scikit-learn version: re-save it with this environment"
        ) from exc


def _schema(path: Path, where: str) -> dict:
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError, OSError) as exc:
        raise _not_skops(where, exc) from exc
    if not isinstance(schema, dict):
        raise _not_skops(where, ValueError("schema.json is not an object"))
    return schema


def _named(schema: dict) -> set[str]:
    """The ``module.name`` of every node in a skops schema tree (walked without recursion)."""
    found, stack = set(), [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node or "__class__" in node:
                name = f"{node.get('__module__')}.{node.get('__class__')}"
                if node.get("__loader__") == "MethodNode":  # a bound method: name the method too
                    content = node.get("content")
                    name += f".{content.get('func') if isinstance(content, dict) else None}"
                found.add(name)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _not_skops(where: str, exc: BaseException) -> RegistryError:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return RegistryError(
        f"{where} is not a readable skops model file ({reason}); it was not written by "
        "skops.io.dump or is damaged: save or register the model again"
    )
