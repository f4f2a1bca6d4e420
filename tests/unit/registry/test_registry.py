import importlib
import json
import os
import re
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from conftest import run_in
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from lifecycle import cli, registry
from lifecycle.core import files, paths
from lifecycle.registry import RegistryError
from lifecycle.registry import store as registry_store

NUMERIC, CATEGORICAL = ["age", "visits"], ["plan", "region"]
_REAL_RENAME = os.rename


def _data(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "visits": rng.poisson(3, n).astype(float),
            "plan": rng.choice(["free", "pro", "team"], n),
            "region": rng.choice(["eu", "us"], n),
        }
    )
    X.loc[::9, "age"] = np.nan
    X.loc[::13, "plan"] = None
    y_class = pd.Series(
        ((X["visits"] + 2 * (X["plan"] == "pro") + rng.normal(0, 1, n)) > 4).astype(int), name="churned"
    )
    y_reg = pd.Series(2 * X["visits"] + rng.normal(0, 1, n), name="spend")
    return X, y_class, y_reg


def _preprocess(scale: bool = True) -> ColumnTransformer:
    numeric = make_pipeline(SimpleImputer(strategy="median"), *([StandardScaler()] if scale else []))
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    )
    return ColumnTransformer([("num", numeric, NUMERIC), ("cat", categorical, CATEGORICAL)])


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[object, pd.DataFrame]]:
    X, y_class, y_reg = _data()
    native = X.astype({c: "category" for c in CATEGORICAL})  # HGB's own categorical handling
    models = {
        "hist_gradient_boosting": (
            Pipeline(
                [
                    ("preprocess", _preprocess(scale=False)),
                    ("model", HistGradientBoostingClassifier(max_iter=10, random_state=0)),
                ]
            ),
            X,
            y_class,
        ),
        "hgb_native_categories": (HistGradientBoostingClassifier(max_iter=10, random_state=0), native, y_class),
        "logistic": (Pipeline([("preprocess", _preprocess()), ("model", LogisticRegression())]), X, y_class),
        "ridge": (Pipeline([("preprocess", _preprocess()), ("model", Ridge())]), X, y_reg),
        "dummy": (Pipeline([("preprocess", _preprocess()), ("model", DummyClassifier())]), X, y_class),
    }
    return {name: (model.fit(X_, y), X_) for name, (model, X_, y) in models.items()}


@pytest.fixture(autouse=True)
def models_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(paths, "MODELS", tmp_path / "models")
    return tmp_path / "models"


@pytest.fixture
def logistic(fitted):
    return fitted["logistic"][0]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _replace_artifact(models_dir: Path, name: str, version: int, write) -> Path:
    """Put another file in place of a version's model.skops, with its SHA-256 recorded, so
    only the type or format check can catch it."""
    folder = models_dir / name / str(version)
    write(folder / "model.skops")
    meta = json.loads((folder / "metadata.json").read_text())
    meta["sha256"] = registry.sha256(folder / "model.skops")
    (folder / "metadata.json").write_text(json.dumps(meta))
    return folder / "model.skops"


# --- register and load ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hist_gradient_boosting", "hgb_native_categories", "logistic", "ridge", "dummy"])
def test_register_load_round_trip_predicts_identically(fitted, kind):
    model, X = fitted[kind]
    version = registry.register(model, kind.replace("_", "-"), {"data_version": "d1", "params": {"seed": 0}})
    assert version == registry.Version(kind.replace("_", "-"), 1)
    loaded, meta = registry.load(version.name, version)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert meta["data_version"] == "d1" and meta["params"] == {"seed": 0}
    assert meta["version"] == 1 and meta["name"] == version.name
    assert meta["sha256"] == registry.sha256(version.folder / "model.skops")
    assert set(meta["environment"]) == {"python", "numpy", "scikit-learn", "skops"}
    assert meta["types"] == sorted(meta["types"]) and set(meta["types"]) <= registry.ALLOWED_TYPES
    assert type(model).__module__ + "." + type(model).__name__ in meta["types"]
    assert sorted(p.name for p in version.folder.iterdir()) == ["metadata.json", "model.skops"]


def test_metadata_records_code_version_and_plain_values(logistic, monkeypatch, tmp_path):
    meta = registry.show(
        "churn",
        registry.register(
            logistic,
            "churn",
            {
                "metrics": {"roc_auc": np.float64(0.75)},
                "rows": np.int64(80),
                "columns": np.array(["a", "b"]),
                "source": Path("data/raw.csv"),
            },
        ),
    )
    assert meta["metrics"] == {"roc_auc": 0.75} and meta["rows"] == 80 and meta["columns"] == ["a", "b"]
    assert meta["source"] == "data/raw.csv" and meta["aliases"] == []  # no alias until one is given
    assert meta["code"] is None or (len(meta["code"]["commit"]) == 40 and isinstance(meta["code"]["dirty"], bool))

    # Without git or outside a repository the code version is null, never an error.
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    assert registry_store.code_version() is None
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    assert registry.show("churn", registry.register(logistic, "churn"))["code"] is None


def test_versions_increase_and_are_never_overwritten(logistic, fitted, models_dir):
    first = registry.register(logistic, "churn", {"data_version": "d1"})
    before = _tree(first.folder)
    second = registry.register(fitted["dummy"][0], "churn", {"data_version": "d2"})
    other = registry.register(fitted["ridge"][0], "spend")
    third = registry.register(logistic, "churn", {"data_version": "d3"})
    assert [first.version, second.version, third.version, other.version] == [1, 2, 3, 1]
    assert _tree(first.folder) == before
    assert [registry.show("churn", v)["data_version"] for v in (1, 2, 3)] == ["d1", "d2", "d3"]
    # ``created`` orders registrations across the whole registry.
    assert [registry.show(*v)["created"] for v in (first, second, other, third)] == [1, 2, 3, 4]
    assert registry.names() == ["churn", "spend"]
    assert not list(models_dir.glob("**/.new-*")) and not (models_dir / ".lock").exists()


def test_numbers_of_deleted_versions_are_not_reused(logistic, models_dir):
    registry.register(logistic, "churn")
    registry.register(logistic, "churn")
    registry.set_alias("churn", "champion", 2)
    import shutil

    shutil.rmtree(models_dir / "churn" / "2")  # someone deleted the champion by hand
    assert registry.register(logistic, "churn").version == 3
    assert registry.show("churn", 3)["aliases"] == []
    registry.set_alias("churn", "champion", 3)  # the alias moves on; its history still remembers version 2
    shutil.rmtree(models_dir / "churn" / "3")
    assert registry.register(logistic, "churn").version == 4


def test_a_crash_while_saving_leaves_no_version(logistic, models_dir, monkeypatch):
    def half_written(path, obj):
        Path(path).write_bytes(b"PK\x03\x04 half")
        raise OSError("disk full")

    monkeypatch.setattr(files, "write_skops", half_written)
    with pytest.raises(OSError, match="disk full"):
        registry.register(logistic, "churn")
    assert [p.name for p in (models_dir / "churn").iterdir()] == []
    monkeypatch.undo()
    monkeypatch.setattr(paths, "MODELS", models_dir)
    assert registry.register(logistic, "churn").version == 1


def test_a_crash_at_the_rename_leaves_no_version(logistic, models_dir, monkeypatch):
    def crash(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        registry.register(logistic, "churn")
    assert [p.name for p in (models_dir / "churn").iterdir()] == []
    assert not (models_dir / ".lock").exists()
    monkeypatch.setattr(os, "rename", _REAL_RENAME)
    assert registry.register(logistic, "churn").version == 1


def test_a_version_taken_meanwhile_makes_the_registration_take_the_next(logistic, models_dir, monkeypatch):
    registry.register(logistic, "churn")

    def race(source, target):  # another process renames its version 2 into place first
        if Path(target).name == "2":
            Path(target).mkdir()
            (Path(target) / "metadata.json").write_text("{}")
        return _REAL_RENAME(source, target)

    monkeypatch.setattr(os, "rename", race)
    version = registry.register(logistic, "churn", {"data_version": "mine"})
    assert version.version == 3
    assert registry.show("churn", 3)["version"] == 3 and registry.show("churn", 3)["data_version"] == "mine"
    assert (models_dir / "churn" / "2" / "metadata.json").read_text() == "{}"


def test_concurrent_registrations_get_distinct_versions(logistic, models_dir, monkeypatch):
    results, errors = [], []
    real_names, gate = registry_store.names, threading.Barrier(6, timeout=0.5)

    def gathered_names():
        # Without the lock all six would read the registry here at once and claim alike;
        # with it the first waits out the gate alone, then each passes in turn.
        try:
            gate.wait()
        except threading.BrokenBarrierError:
            pass
        return real_names()

    monkeypatch.setattr(registry_store, "names", gathered_names)

    def work():
        try:
            results.append(registry.register(logistic, "churn").version)
        except Exception as exc:  # noqa: BLE001  (whatever a racing writer raises is kept, then checked)
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(results) == [1, 2, 3, 4, 5, 6]
    assert sorted(registry.show("churn", v)["created"] for v in results) == [1, 2, 3, 4, 5, 6]


def test_lock_left_by_a_dead_process_is_broken_and_a_held_one_times_out(logistic, models_dir, monkeypatch):
    models_dir.mkdir()
    lock = models_dir / ".lock"
    lock.touch()
    os.utime(lock, (1, 1))  # decades old: its process died holding it
    assert registry.register(logistic, "churn").version == 1
    lock.touch()
    monkeypatch.setattr(registry_store, "LOCK_WAIT", 0.1)
    with pytest.raises(RegistryError, match="models/.lock is held by another process"):
        registry.set_alias("churn", "champion", 1)
    assert not (models_dir / "churn" / "aliases.json").exists()


def test_register_refuses_what_it_could_not_load_later(logistic, models_dir):
    pipe = make_pipeline(FunctionTransformer(_custom_step), LogisticRegression())
    X, y, _ = _data()
    pipe.fit(X[NUMERIC].fillna(0), y)
    with pytest.raises(RegistryError, match=r"cannot register 'churn': the pipeline holds test_registry\._custom_step"):
        registry.register(pipe, "churn")
    with pytest.raises(RegistryError, match="is not fitted"):
        registry.register(LogisticRegression(), "churn")
    assert registry.names() == [] and not list(models_dir.glob("**/.new-*"))


# --- what load refuses -----------------------------------------------------------------


def test_a_changed_model_file_is_refused(logistic, models_dir):
    registry.register(logistic, "churn")
    artifact = models_dir / "churn" / "1" / "model.skops"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    with pytest.raises(RegistryError) as info:
        registry.load("churn", 1)
    assert str(info.value) == (
        "models/churn/1/model.skops does not match its recorded SHA-256: the file was "
        "changed or corrupted; re-register the model"
    )


def _custom_step(X):
    return X


LOADED = []


class Sneaky(BaseEstimator, TransformerMixin):
    """Would run code when rebuilt: loading must refuse it before that."""

    def __setstate__(self, state):
        LOADED.append("code ran")
        self.__dict__.update(state)

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


@pytest.mark.parametrize(
    "step, named",
    [
        (FunctionTransformer(_custom_step), r"test_registry\._custom_step"),
        (FunctionTransformer(os.system), r"(posix|nt)\.system"),  # os.system lives in posix (nt on Windows)
        (Sneaky(), r"test_registry\.Sneaky"),
    ],
)
def test_a_model_file_with_a_type_outside_the_allowlist_is_refused(logistic, models_dir, step, named):
    registry.register(logistic, "churn")
    foreign = make_pipeline(step, LogisticRegression())  # fitted or not, the types are what matter
    _replace_artifact(models_dir, "churn", 1, lambda path: sio.dump(foreign, path))
    with pytest.raises(RegistryError) as info:
        registry.load("churn", 1)
    assert re.match(
        rf"models/churn/1/model\.skops holds {named}, which the registry does not trust to load", str(info.value)
    ), str(info.value)
    assert LOADED == []


def test_a_type_hidden_in_a_value_is_caught_by_the_skops_audit(fitted, models_dir):
    """A random generator's class name is a plain string in the file; skops flags it."""
    registry.register(fitted["hgb_native_categories"][0], "churn")
    artifact = models_dir / "churn" / "1" / "model.skops"
    with zipfile.ZipFile(artifact) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = members["schema.json"].decode()
    assert '\\"PCG64\\"' in schema
    members["schema.json"] = schema.replace('\\"PCG64\\"', '\\"seed\\"').encode()

    def write(path):
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)

    _replace_artifact(models_dir, "churn", 1, write)
    with pytest.raises(RegistryError, match=r"holds numpy\.random\.seed, which the registry does not trust"):
        registry.load("churn", 1)


@pytest.mark.parametrize("content", [b"not a zip at all", b"\x80\x04\x95 a pickle", None])
def test_a_file_that_is_not_a_skops_zip_is_refused(logistic, models_dir, content):
    registry.register(logistic, "churn")

    def write(path):
        if content is None:  # a zip, but not a skops one
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("readme.txt", "hello")
        else:
            path.write_bytes(content)

    _replace_artifact(models_dir, "churn", 1, write)
    with pytest.raises(RegistryError, match=r"^models/churn/1/model\.skops is not a readable skops model file \("):
        registry.load("churn", 1)


def test_load_file_checks_drafts_too(logistic, tmp_path):
    sio.dump(logistic, tmp_path / "trained.skops")
    assert type(registry.load_file(tmp_path / "trained.skops")) is Pipeline
    sio.dump(Sneaky(), tmp_path / "bad.skops")
    with pytest.raises(RegistryError, match=r"^bad\.skops holds test_registry\.Sneaky"):
        registry.load_file(tmp_path / "bad.skops")
    with pytest.raises(RegistryError, match=r"missing\.skops does not exist"):
        registry.load_file(tmp_path / "missing.skops")


def test_the_allowlist_names_only_real_numpy_scipy_and_sklearn_objects():
    for name in registry.ALLOWED_TYPES:
        module, _, attr = name.rpartition(".")
        if module in ("builtins", "functools"):
            assert name in (
                "builtins.bool",
                "builtins.dict",
                "builtins.float",
                "builtins.int",
                "builtins.list",
                "builtins.slice",
                "builtins.str",
                "builtins.tuple",
                "functools.partial",
            ), name
            continue
        assert module.split(".")[0] in ("numpy", "scipy", "sklearn"), name
        assert hasattr(importlib.import_module(module), attr), f"{name} does not exist (renamed upstream?)"


def test_pipelines_the_project_builds_hold_only_allowed_types():
    from lifecycle.data.features import preprocessor
    from lifecycle.modeling.select import FAMILIES, estimator, pipeline

    X, y_class, y_reg = _data(120)
    X["flag"] = (X["visits"] > 2).astype("boolean")
    X.loc[::7, "flag"] = pd.NA
    X["city"] = [f"c{i % 30}" for i in range(len(X))]
    schema = pd.DataFrame(
        {"kind": ["numeric", "numeric", "categorical", "categorical", "boolean", "high_cardinality"]},
        index=["age", "visits", "plan", "region", "flag", "city"],
    )
    small = {"random_forest": {"n_estimators": 3}, "hist_gradient_boosting": {"max_iter": 3}}
    for task, y in (("binary", y_class), ("multiclass", y_reg.round().clip(0, 2).astype(int)), ("regression", y_reg)):
        for family in FAMILIES:
            model = pipeline(preprocessor(schema, task, 0), estimator(family, task, small.get(family), 0)).fit(X, y)
            types = set(registry.artifact_types(_dump(model)))
            assert types <= registry.ALLOWED_TYPES, (task, family, types - registry.ALLOWED_TYPES)


def _dump(model) -> Path:
    path = paths.MODELS / "check.skops"
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)
    return path


# --- aliases -----------------------------------------------------------------------------


def _aliases(models_dir: Path) -> dict:
    return json.loads((models_dir / "churn" / "aliases.json").read_text())


def test_an_alias_points_at_one_version_and_a_version_can_have_several(logistic, models_dir):
    for _ in range(3):
        registry.register(logistic, "churn")
    assert not (models_dir / "churn" / "aliases.json").exists() and registry.aliases("churn") == {}
    assert registry.set_alias("churn", "champion", 1) == "churn@champion is version 1."
    message = registry.set_alias("churn", "champion", registry.Version("churn", 2))
    assert message == "churn@champion is version 2 (it named version 1)."
    registry.set_alias("churn", "challenger", "2")
    registry.set_alias("churn", "my-test", 3)
    assert registry.aliases("churn") == {"challenger": 2, "champion": 2, "my-test": 3}
    assert list(registry.versions("churn")["aliases"]) == ["-", "challenger, champion", "my-test"]
    assert registry.show("churn", 2)["aliases"] == ["challenger", "champion"]
    said = registry.remove_alias("churn", "my-test")
    assert said == "churn@my-test removed (it named version 3); the version stays in the registry."
    assert registry.aliases("churn") == {"challenger": 2, "champion": 2}
    assert _aliases(models_dir)["history"] == [
        {"alias": "champion", "version": 1, "was": None},
        {"alias": "champion", "version": 2, "was": 1},
        {"alias": "challenger", "version": 2, "was": None},
        {"alias": "my-test", "version": 3, "was": None},
        {"alias": "my-test", "version": None, "was": 3},
    ]
    assert registry.set_alias("churn", "champion", 2) == "churn@champion is version 2."  # no change, no history
    assert len(_aliases(models_dir)["history"]) == 5
    assert not list((models_dir / "churn").glob(".aliases.json.*"))  # written atomically, no leftovers


def test_load_picks_the_champion_else_the_latest_or_the_alias_asked(logistic, fitted):
    registry.register(logistic, "churn")
    registry.register(fitted["dummy"][0], "churn")
    assert registry.load("churn")[1]["version"] == 2
    registry.set_alias("churn", "champion", 1)
    registry.set_alias("churn", "challenger", 2)
    model, meta = registry.load("churn")
    assert meta["version"] == 1 and isinstance(model[-1], LogisticRegression)
    assert registry.load("churn", alias="challenger")[1]["version"] == 2
    assert registry.show("churn", alias="champion")["version"] == 1
    assert registry.parse_reference("churn@challenger") == ("churn", "challenger")
    assert registry.parse_reference("churn") == ("churn", None)


def test_mistakes_are_named_with_what_exists(logistic, models_dir):
    with pytest.raises(RegistryError, match="no model named 'churn' in the registry; the registry is empty"):
        registry.load("churn")
    registry.register(logistic, "churn")
    registry.register(logistic, "churn")
    cases = {
        lambda: registry.load("chrun"): "no model named 'chrun' in the registry; models are churn",
        lambda: registry.load("churn", 7): "model 'churn' has no version 7; versions are 1, 2",
        lambda: registry.set_alias("churn", "champion", "two"): "model 'churn' has no version 'two'; versions are 1, 2",
        lambda: registry.set_alias("churn", "1st", 1): "alias '1st' cannot name a version: use a letter, then",
        lambda: registry.set_alias("churn", "latest", 1): "alias 'latest' cannot name a version",
        lambda: registry.load("churn", alias="staging"): "model 'churn' has no alias 'staging' (it has no aliases; "
        "versions: 1, 2); set it with `lifecycle models alias churn staging VERSION`",
        lambda: registry.load("churn", 1, "champion"): "give a version or an alias, not both",
        lambda: registry.remove_alias("churn", "champion"): "model 'churn' has no alias 'champion' (it has no aliases)",
        lambda: registry.parse_reference("churn@"): "model 'churn@' is not NAME or NAME@ALIAS (e.g. churn or "
        "churn@champion): alias '' cannot name a version",
        lambda: registry.parse_reference("@champion"): "model '@champion' is not NAME or NAME@ALIAS",
        lambda: registry.parse_reference("churn@a@b"): "model 'churn@a@b' is not NAME or NAME@ALIAS",
        lambda: registry.register(logistic, "../churn"): "model name '../churn' cannot be a folder name",
        lambda: registry.register(logistic, "churn", {"version": 3}): "metadata key(s) version are set by the registry",
        lambda: registry.register(logistic, "churn", {"aliases": ["x"]}): "metadata key(s) aliases are set by the",
        lambda: registry.register(logistic, "churn", {"when": object()}): "metadata cannot be stored as JSON",
    }
    for call, message in cases.items():
        with pytest.raises(RegistryError) as info:
            call()
        assert str(info.value).startswith(message), str(info.value)
    assert issubclass(RegistryError, ValueError)
    assert registry_store.numbers("churn") == [1, 2]
    registry.set_alias("churn", "champion", 2)
    shutil.rmtree(models_dir / "churn" / "2")  # deleted by hand: the alias names nothing
    with pytest.raises(RegistryError, match=r"churn@champion names version 2, which is no longer in the registry"):
        registry.load("churn", alias="champion")


def test_a_broken_aliases_file_is_named(logistic, models_dir):
    registry.register(logistic, "churn")
    (models_dir / "churn" / "aliases.json").write_text('{"aliases": {"champion": "1"}}')
    with pytest.raises(RegistryError, match=r"models/churn/aliases.json should hold .*; fix it, or delete it"):
        registry.versions("churn")
    (models_dir / "churn" / "aliases.json").write_text("{oops")
    with pytest.raises(RegistryError, match=r"models/churn/aliases.json: .* not valid JSON"):
        registry.load("churn")


# --- a registry from before aliases: stages.json ----------------------------------------------


def _old_registry(logistic, models_dir: Path, stages: dict, versions: int = 4) -> None:
    """A registry as the stages' version of lifecycle left it: versions, and stages.json beside them."""
    for _ in range(versions):
        registry.register(logistic, "churn")
    (models_dir / "churn" / "stages.json").write_text(json.dumps(stages))


def test_an_old_registry_is_migrated_on_first_use_saying_so_once(logistic, models_dir, caplog):
    _old_registry(logistic, models_dir, {"production": 2, "archived": [1]})
    with caplog.at_level("WARNING", logger="lifecycle.registry"):
        assert registry.aliases("churn") == {"challenger": 4, "champion": 2}  # the newest candidate: challenger
        assert registry.load("churn")[1]["version"] == 2  # the default is the champion, as production was
        assert list(registry.versions("churn")["aliases"]) == ["-", "champion", "-", "challenger"]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "stages are aliases now; migrated stages.json" in said[0]
    assert "churn@champion -> version 2, churn@challenger -> version 4" in said[0]
    assert not (models_dir / "churn" / "stages.json").exists()
    kept = models_dir / "churn" / "stages.json.migrated"
    assert json.loads(kept.read_text()) == {"production": 2, "archived": [1]}
    history = _aliases(models_dir)["history"]
    assert history == [
        {
            "migrated_from": "stages.json",
            "stages": {"production": 2, "archived": [1]},
            "aliases": {"champion": 2, "challenger": 4},
        }
    ]
    shutil.rmtree(models_dir / "churn" / "4")  # numbers stay unique: the history remembers 4
    assert registry.register(logistic, "churn").version == 5


def test_an_old_registry_without_production_or_candidates_gets_what_it_had(logistic, models_dir, capsys, caplog):
    _old_registry(logistic, models_dir, {"production": None, "archived": [1, 2]}, versions=2)
    with caplog.at_level("WARNING", logger="lifecycle.registry"):
        code, out, err = _cli(capsys, "list", "churn")  # the command line migrates too
    assert code == 0 and [line.split()[:2] for line in out.splitlines()[2:]] == [["1", "-"], ["2", "-"]]
    assert [r.getMessage().count("migrated stages.json") for r in caplog.records] == [1]
    assert "): no alias." in caplog.records[0].getMessage()
    assert registry.aliases("churn") == {}


def test_the_command_line_says_it_migrated_an_old_registry_once(logistic, project, monkeypatch):
    monkeypatch.setattr(paths, "MODELS", project / "models")
    _old_registry(logistic, project / "models", {"production": 1, "archived": []}, versions=1)
    first, again = (run_in(project, "lifecycle", "models", "list") for _ in range(2))
    assert first.returncode == 0 and first.stdout.split()[-4:] == ["churn", "1", "1", "champion=1"]
    assert first.stderr.count("\n") == 1 and "churn@champion -> version 1" in first.stderr
    assert again.returncode == 0 and again.stdout == first.stdout and again.stderr == ""


def test_a_broken_old_stages_file_is_named(logistic, models_dir):
    registry.register(logistic, "churn")
    (models_dir / "churn" / "stages.json").write_text('{"production": "1"}')
    with pytest.raises(RegistryError, match=r"models/churn/stages.json \(a registry from before aliases\) should"):
        registry.versions("churn")
    (models_dir / "churn" / "stages.json").write_text("{oops")
    with pytest.raises(RegistryError, match=r"models/churn/stages.json: .* not valid JSON"):
        registry.load("churn")


def test_versions_table_holds_no_clock_times(logistic, fitted):
    registry.register(
        logistic,
        "churn",
        {
            "data_version": "d1",
            "metric": "roc_auc",
            "metrics": {"test": {"roc_auc": 0.81, "accuracy": 0.7}, "out_of_time": {"roc_auc": 0.78}},
        },
    )
    registry.register(
        fitted["dummy"][0],
        "churn",
        {"data_version": "d2", "metrics": {"roc_auc": 0.5}, "run_id": "20250101-120000-ab12"},
    )
    registry.set_alias("churn", "champion", 1)
    table = registry.versions("churn")
    assert table.index.name == "version" and list(table.index) == [1, 2]
    assert list(table.columns) == [
        "aliases",
        "created",
        "out_of_time roc_auc",
        "test roc_auc",
        "roc_auc",
        "data_version",
    ]
    assert table.loc[1, "test roc_auc"] == 0.81 and table.loc[2, "roc_auc"] == 0.5
    assert list(table["data_version"]) == ["d1", "d2"]
    text = table.to_string()
    assert "registered_at" not in text and "2025" not in text and ":" not in text


# --- the command line ---------------------------------------------------------------------


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["models", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_lists_shows_and_sets_aliases(logistic, fitted, capsys):
    assert _cli(capsys, "list") == (0, "no models registered yet\n", "")
    registry.register(logistic, "churn", {"data_version": "d1"})
    registry.register(logistic, "churn", {"data_version": "d2"})
    registry.register(fitted["ridge"][0], "spend")

    code, out, err = _cli(capsys, "alias", "churn", "champion", "1")
    assert (code, out, err) == (0, "churn@champion is version 1.\n", "")
    code, out, _ = _cli(capsys, "alias", "churn", "champion", "2")
    assert out == "churn@champion is version 2 (it named version 1).\n"
    assert _cli(capsys, "alias", "churn", "old", "1")[0] == 0

    code, out, _ = _cli(capsys, "list")
    assert code == 0 and [line.split() for line in out.splitlines()] == [
        ["versions", "latest", "aliases"],
        ["model"],
        ["churn", "2", "2", "champion=2,", "old=1"],
        ["spend", "1", "1", "-"],
    ]
    code, out, _ = _cli(capsys, "list", "churn")
    assert code == 0 and [line.split() for line in out.splitlines()] == [
        ["aliases", "created", "data_version"],
        ["version"],
        ["1", "old", "1", "d1"],
        ["2", "champion", "2", "d2"],
    ]
    code, out, err = _cli(capsys, "alias", "churn", "old", "--remove")
    assert (code, err) == (
        0,
        "",
    ) and out == "churn@old removed (it named version 1); the version stays in the registry.\n"

    code, out, _ = _cli(capsys, "show", "churn")
    shown = json.loads(out)
    assert code == 0 and shown["version"] == 2 and shown["aliases"] == ["champion"] and shown["data_version"] == "d2"
    assert json.loads(_cli(capsys, "show", "churn", "--version", "1")[1])["aliases"] == []
    assert json.loads(_cli(capsys, "show", "churn@champion")[1])["version"] == 2


def test_the_commands_of_stages_still_work_saying_what_replaces_them(logistic, capsys):
    for _ in range(3):
        registry.register(logistic, "churn")
    code, out, err = _cli(capsys, "promote", "churn", "1", "--stage", "production")
    assert (code, out) == (0, "churn@champion is version 1.\n")
    assert "--stage is deprecated, stages are aliases now (production: champion)" in err
    assert "`lifecycle models alias churn champion 1`" in err
    assert _cli(capsys, "promote", "churn", "2", "--stage", "candidate")[1] == "churn@challenger is version 2.\n"
    code, out, err = _cli(capsys, "show", "churn", "--stage", "candidate")
    assert code == 0 and json.loads(out)["version"] == 2 and "use lifecycle models show churn@ALIAS" in err
    code, out, err = _cli(capsys, "promote", "churn", "1", "--stage", "archived")
    assert (code, out) == (0, "churn@champion removed (it named version 1); the version stays in the registry.\n")
    assert "archived: no alias" in err and registry.aliases("churn") == {"challenger": 2}


@pytest.mark.parametrize(
    "args, message",
    [
        (["list", "nope"], "lifecycle: no model named 'nope' in the registry; models are churn\n"),
        (["show", "churn", "--version", "9"], "lifecycle: model 'churn' has no version '9'; versions are 1\n"),
        (["show", "churn@champion"], "lifecycle: model 'churn' has no alias 'champion' (it has no aliases; versions"),
        (["show", "churn@"], "lifecycle: model 'churn@' is not NAME or NAME@ALIAS (e.g. churn or churn@champion)"),
        (["alias", "churn", "champion"], "lifecycle: give the VERSION champion should name"),
        (["alias", "churn", "champion", "1", "--remove"], "lifecycle: give a VERSION for champion"),
        (["alias", "churn", "champion", "3"], "lifecycle: model 'churn' has no version '3'; versions are 1\n"),
        (["alias", "churn", "Not an alias", "1"], "lifecycle: alias 'Not an alias' cannot name a version"),
        (["alias", "churn", "gone", "--remove"], "lifecycle: model 'churn' has no alias 'gone' (it has no aliases)"),
        (
            ["promote", "churn", "1", "--stage", "live"],
            "lifecycle: stage 'live' is not one of candidate, production, archived; stages are aliases now",
        ),
        (["show", "churn", "--stage", "archived"], "lifecycle: stage 'archived' is not one of production, candidate"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(logistic, capsys, args, message):
    registry.register(logistic, "churn")
    code, out, err = _cli(capsys, *args)
    assert code == 2 and out == "" and err.startswith(message), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_show_reads_metadata_only_and_load_catches_a_changed_file(logistic, models_dir, capsys):
    """``show`` reads metadata only; a changed artifact is caught when the model is loaded."""
    registry.register(logistic, "churn")
    (models_dir / "churn" / "1" / "model.skops").write_bytes(b"changed")
    assert _cli(capsys, "show", "churn")[0] == 0
    with pytest.raises(RegistryError, match="does not match its recorded SHA-256"):
        registry.load("churn")


def test_the_installed_command_runs_in_a_project_copy(project):
    listed = run_in(project, "lifecycle", "models", "list")
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "no models registered yet\n", "")
    shown = run_in(project, "lifecycle", "models", "show", "churn")
    assert shown.returncode == 2 and shown.stdout == ""
    assert (
        shown.stderr
        == "lifecycle: no model named 'churn' in the registry; the registry is empty: register a model first\n"
    )


def test_the_python_promote_of_stages_still_works_and_says_it_is_deprecated(logistic):
    for _ in range(2):
        registry.register(logistic, "churn")
    with pytest.deprecated_call(match="stages are aliases now"):
        assert registry.promote("churn", 1, "production") == "churn@champion is version 1."
    with pytest.deprecated_call():
        registry.promote("churn", 2, "candidate")
    assert registry.aliases("churn") == {"challenger": 2, "champion": 1}
    with pytest.deprecated_call():
        assert registry.promote("churn", 1, "archived").startswith("churn@champion removed")
    with pytest.deprecated_call(), pytest.raises(RegistryError, match="stage 'live' is not one of candidate"):
        registry.promote("churn", 1, "live")
    assert registry.aliases("churn") == {"challenger": 2}


def test_cli_usage_mistakes_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["models", "promote", "churn", "1"])  # --stage is required
    assert info.value.code == 2 and "--stage" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["models", "alias", "churn"])  # ALIAS is required
    assert info.value.code == 2 and "ALIAS" in capsys.readouterr().err


def test_without_a_champion_phases_10_to_13_rehearse_on_the_tested_version(logistic, fitted):
    """09 did not make its version the champion (FAIL): phases 10-13 work with that version, as a rehearsal; the
    challengers of 10 and retrained versions of 13 never stand in for it; a champion ends the rehearsal."""
    from lifecycle.modeling import scoring

    X = fitted["logistic"][1]
    schema = {c: {"kind": "numeric" if c in NUMERIC else "categorical"} for c in X.columns}
    meta = {"task": "binary", "feature_schema": schema, "threshold": 0.5, "positive_class": 1}
    tested = registry.register(logistic, "churn", {**meta, "passed": False}).version
    registry.register(logistic, "churn", {**meta, "challenger": True})
    registry.register(logistic, "churn", {**meta, "passed": False, "retrained": True})
    scorer, rehearsal, said = scoring.champion("churn")
    assert (scorer.version, rehearsal) == (tested, True)
    assert said.startswith("REHEARSAL: churn has no champion") and "nothing it does puts a model" in said
    assert said.endswith(f"lifecycle models alias churn champion {tested}.")
    registry.set_alias("churn", "champion", tested)
    scorer, rehearsal, said = scoring.champion("churn")
    assert (scorer.version, rehearsal, said) == (tested, False, "churn: the champion (churn@champion).")
    registry.register(logistic, "other", {**meta, "challenger": True})
    with pytest.raises(registry.RegistryError, match="has no champion and no version 09_model_testing registered"):
        scoring.champion("other")
