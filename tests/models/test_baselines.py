"""Baselines: the constant prior, seeded random scores and the spec's rule, against direct computations."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from loopline import ModelError
from loopline.models import load_model, save_model, train_baselines
from loopline.models._baselines import HeuristicScorer
from loopline.models._model import Model
from loopline.testing import check_model
from tests.models.conftest import RULES, Trained
from tests.models.samples import CLASSES, make_spec, make_splits

TASKS = ["binary", "regression", "multiclass", "ranking"]


@pytest.mark.parametrize("task", TASKS)
def test_every_baseline_meets_the_contract(task: str, trained: Callable[[str], Trained]) -> None:
    found = trained(task)
    for name in ("constant", "random", "heuristic"):
        model = found.models[name]
        assert model.is_baseline and model.family == name
        assert model.explain(found.splits.test) is None and model.importance() is None
        check_model(model, found.splits.test.iloc[:100])
    assert found.models["constant"].features == found.models["random"].features == ()


def test_constant_is_the_train_prior(trained: Callable[[str], Trained]) -> None:
    binary, regression, multi = trained("binary"), trained("regression"), trained("multiclass")
    assert np.allclose(binary.models["constant"].predict(binary.splits.test), binary.splits.train["y"].mean(),
                       rtol=1e-12)
    assert np.allclose(regression.models["constant"].predict(regression.splits.test),
                       regression.splits.train["y"].mean(), rtol=1e-12)
    shares = multi.splits.train["y"].value_counts(normalize=True).reindex(list(CLASSES)).to_numpy()
    p = multi.models["constant"].predict(multi.splits.test)
    assert multi.models["constant"].classes == CLASSES
    assert np.allclose(p, shares, rtol=1e-9)


def test_random_ignores_the_features_and_is_seeded(trained: Callable[[str], Trained]) -> None:
    found = trained("binary")
    model = found.models["random"]
    frame = make_splits("binary", n=20_000, seed=5).train
    p = model.predict(frame)
    assert abs(p.mean() - found.splits.train["y"].mean()) < 0.01  # a Beta with mean = prior
    assert abs(roc_auc_score(frame["y"], p) - 0.5) < 0.02
    assert np.array_equal(p, model.predict(frame.iloc[::-1]))  # by position: depends on seed and row count only
    other_seed = train_baselines(found.splits, make_spec("binary", seed=1))[1]
    assert not np.array_equal(p, other_seed.predict(frame))

    regression = trained("regression")
    draws = regression.models["random"].predict(frame)
    labels = regression.splits.train["y"].to_numpy()
    assert labels.min() <= draws.min() and draws.max() <= labels.max()
    assert np.allclose(np.quantile(draws, [0.1, 0.5, 0.9]), np.quantile(labels, [0.1, 0.5, 0.9]), atol=0.15)
    multi = trained("multiclass").models["random"].predict(frame)
    assert np.allclose(multi.sum(axis=1), 1.0) and multi.std(axis=0).min() > 0.05


def test_the_rule_is_mapped_by_a_one_feature_fit_on_train(trained: Callable[[str], Trained]) -> None:
    found = trained("binary")
    train, test = found.splits.train, found.splits.test
    rule = (train["x1"] + (train["colour"] == "red")).to_numpy().reshape(-1, 1)
    oracle = LogisticRegression(C=1e4, max_iter=1000).fit(rule, train["y"])
    test_rule = (test["x1"] + (test["colour"] == "red")).to_numpy().reshape(-1, 1)
    assert np.allclose(found.models["heuristic"].predict(test), oracle.predict_proba(test_rule)[:, 1], atol=1e-4)
    assert found.models["heuristic"].features == ("x1", "colour")

    regression = trained("regression")
    train, test = regression.splits.train, regression.splits.test

    raw_train = (train["x1"] + 0.5 * train["x2"]).to_numpy()
    fill = np.median(raw_train[np.isfinite(raw_train)])
    slope, intercept = np.polyfit(np.where(np.isfinite(raw_train), raw_train, fill), train["y"], 1)
    raw_test = (test["x1"] + 0.5 * test["x2"]).to_numpy()
    expected = slope * np.where(np.isfinite(raw_test), raw_test, fill) + intercept
    assert np.allclose(regression.models["heuristic"].predict(test), expected, atol=1e-9)

    ranking = trained("ranking")
    assert np.array_equal(ranking.models["heuristic"].predict(ranking.splits.test), ranking.splits.test["x1"])


def test_baselines_get_a_threshold_for_binary_only(trained: Callable[[str], Trained]) -> None:
    assert all(trained("binary").models[n].threshold is not None for n in ("constant", "random", "heuristic"))
    assert all(trained("regression").models[n].threshold is None for n in ("constant", "random", "heuristic"))


def test_a_bad_rule_names_the_rule_the_duckdb_message_and_the_columns() -> None:
    splits = make_splits("binary", n=300)
    with pytest.raises(ModelError) as info:
        train_baselines(splits, make_spec("binary", baseline={"rule": "ln(1 + author_followers)"}))
    message = str(info.value)
    assert "'ln(1 + author_followers)'" in message
    assert 'Referenced column "author_followers" not found' in message
    assert "'x1', 'x2', 'colour', 'noise'" in message
    with pytest.raises(ModelError, match=r"Could not convert string 'red' to DOUBLE"):
        train_baselines(splits, make_spec("binary", baseline={"rule": "colour"}))
    with pytest.raises(ModelError, match=r"uses the label column 'y'"):
        train_baselines(splits, make_spec("binary", baseline={"rule": "2 * y"}))


def test_the_constant_baseline_is_corrected_for_downsampling() -> None:
    full = make_splits("binary", n=6000)
    sampled = make_splits("binary", n=6000, negative_rate=0.25)
    constant = train_baselines(sampled, make_spec("binary", baseline={"rule": RULES["binary"]}))[0]
    rate = sampled.train["y"].mean()
    assert rate > full.train["y"].mean() + 0.15  # the sampled prior is far too high ...
    corrected = rate / (rate + (1 - rate) / 0.25)
    assert np.allclose(constant.predict(full.test.iloc[:3]), corrected)  # ... and is put back
    assert abs(corrected - full.train["y"].mean()) < 0.03


def _outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("token\nhunter2\n", encoding="utf-8")
    return secret


def _attacks(tmp_path: Path) -> dict[str, tuple[str, Path | None]]:
    """Rules that try to leave the sandbox, and the file each one would create if it got out."""
    secret, out = _outside(tmp_path), tmp_path / "written"
    escape = "1) AS DOUBLE) AS score FROM frame; {}; SELECT CAST((1"
    return {
        "read_csv": (f"x1 + (SELECT count(*) FROM read_csv('{secret}'))", None),
        "read_text": (f"x1 + length((SELECT content FROM read_text('{secret}')))", None),
        "glob": (f"x1 + (SELECT count(*) FROM glob('{secret.parent}/*'))", None),
        "copy": (escape.format(f"COPY (SELECT 1) TO '{out}.csv'"), out.with_suffix(".csv")),
        "attach": (escape.format(f"ATTACH '{out}.db'"), out.with_suffix(".db")),
        "install": (escape.format("INSTALL httpfs"), None),
        "load": (escape.format("LOAD httpfs"), None),
        "set": (escape.format("SET enable_external_access = true"), None),
        "reset": (escape.format("RESET enable_external_access"), None),
    }


REFUSED = r"baseline\.rule .* (is refused: reading or writing files is not allowed|is not one SQL expression)"


def test_a_rule_cannot_read_or_write_files_or_change_settings_at_training(tmp_path: Path) -> None:
    splits = make_splits("binary", n=300)
    for name, (rule, written) in _attacks(tmp_path).items():
        with pytest.raises(ModelError, match=REFUSED) as info:
            train_baselines(splits, make_spec("binary", baseline={"rule": rule}))
        assert "hunter2" not in str(info.value), name
        assert written is None or not written.exists(), name


def test_a_stored_rule_is_sandboxed_at_every_prediction(trained: Callable[[str], Trained], tmp_path: Path) -> None:
    found = trained("binary")
    model, rows = found.models["heuristic"], found.splits.test.iloc[:50]
    assert isinstance(model, Model) and isinstance(model.scorer, HeuristicScorer)
    for name, (rule, written) in _attacks(tmp_path).items():
        altered = dataclasses.replace(model, scorer=dataclasses.replace(model.scorer, rule=rule))
        with pytest.raises(ModelError, match=REFUSED):
            altered.predict(rows)
        assert written is None or not written.exists(), name


def test_a_stored_rule_that_is_not_one_expression_is_refused_at_load(trained: Callable[[str], Trained],
                                                                      tmp_path: Path) -> None:
    """model.json carries checksums; this is a rewrite by someone who could also change the recorded sha256."""
    model = trained("binary").models["heuristic"]
    folder = tmp_path / "rule"
    save_model(model, folder)
    manifest = json.loads((folder / "model.json").read_text())
    out = tmp_path / "out.csv"
    manifest["scorer"]["rule"] = f"1) AS DOUBLE) AS score FROM frame; COPY (SELECT 1) TO '{out}'; SELECT CAST((1"
    text = json.dumps(manifest).encode()
    (folder / "model.json").write_bytes(text)
    with pytest.raises(ModelError, match=r"baseline\.rule .* is not one SQL expression"):
        load_model(folder, sha256=hashlib.sha256(text).hexdigest())
    assert not out.exists()


def test_legitimate_rules_with_strings_and_semicolons_still_work() -> None:
    splits = make_splits("binary", n=300)
    rule = "x1 + CASE WHEN colour = 'red' OR colour = 'a;b' THEN 1 ELSE 0 END -- a comment; with a semicolon"
    heuristic = train_baselines(splits, make_spec("binary", baseline={"rule": rule}))[2]
    test = splits.test
    expected = test["x1"] + (test["colour"] == "red")
    assert heuristic.name == "heuristic"
    assert roc_auc_score(test["y"], heuristic.predict(test)) == pytest.approx(roc_auc_score(test["y"], expected))
