"""Train, convert and log the models of the drift integration tests, as a training job would.

Usage: drift_models.py <name_prefix> <out_dir>
Env:   MLFLOW_TRACKING_URI (the test server)

Data: card transactions with 12 features in their raw units, in model input order f0..f11 (amount in
dollars, hour of day, account age in years, transactions in the last 24 h, km from home, foreign,
then six weaker signals) plus `gender` (no effect on the label) and `is_fraud`. Fraud follows rules
(a large amount at night, a young account with many transactions...) that trees find and a linear
model only approximates.

Two registered models, each with a champion (aliased `champion`) and a candidate:
- better: a regularised logistic regression (standardised inputs) replaced by gradient boosting
  trained on the same rows: a genuinely better model of another family.
- skew: the champion is a logistic regression that never saw f2 (account age: the column is zeroed
  when it is trained, so its weight is 0); the candidate is gradient boosting that relies on f2.

Writes <out_dir>/holdout.csv and <out_dir>/live.csv (fresh rows of the same population), with
columns f0..f11, gender, is_fraud. Prints one JSON line:
{"better": {"model", "champion", "candidate", "auc": {"champion", "candidate"}},
 "skew":   {"model", "champion", "candidate", "auc": {...}, "feature": "f2", "uses": {...}}}
"""

import json
import os
import sys
import warnings

import mlflow
import mlflow.onnx
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

warnings.filterwarnings("ignore")

FEATURES = [f"f{i}" for i in range(12)]
AGE = 2  # account age in years: the feature the skew candidate relies on


def transactions(rng, n):
    x = np.zeros((n, 12))
    x[:, 0] = rng.lognormal(3.5, 1.0, n)  # amount, dollars
    x[:, 1] = rng.integers(0, 24, n)  # hour of day
    x[:, 2] = rng.gamma(2.0, 2.0, n)  # account age, years
    x[:, 3] = rng.poisson(3.0, n)  # transactions in the last 24 h
    x[:, 4] = rng.exponential(20.0, n)  # km from home
    x[:, 5] = rng.binomial(1, 0.1, n)  # foreign
    x[:, 6:] = rng.normal(size=(n, 6))
    night = x[:, 1] < 6
    z = (
        -3.0
        + 2.2 * ((x[:, 0] > 120) & night)
        + 1.6 * (x[:, 3] >= 6)
        + 2.4 * (x[:, 2] < 1.0)
        + 1.0 * (x[:, 4] > 60)
        + 0.9 * x[:, 5]
        + 0.4 * x[:, 6]
        - 0.3 * x[:, 7]
    )
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    gender = np.where(rng.uniform(size=n) < 0.5, "F", "M")
    return x.astype(np.float32), y, gender


def write_csv(path, x, y, gender):
    frame = pd.DataFrame(x.astype(np.float64), columns=FEATURES)
    frame["gender"] = gender
    frame["is_fraud"] = y
    frame.to_csv(path, index=False, float_format="%.9g")


def log(clf, name, alias=None):
    onx = to_onnx(
        clf,
        initial_types=[("features", FloatTensorType([None, 12]))],
        options={id(clf): {"zipmap": False}} if not hasattr(clf, "steps") else {id(clf.steps[-1][1]): {"zipmap": False}},
        target_opset={"": 15, "ai.onnx.ml": 3},
    )
    mlflow.set_experiment("prograde-oracles")
    with mlflow.start_run():
        info = mlflow.onnx.log_model(onx, name="model", registered_model_name=name)
    version = str(info.registered_model_version)
    if alias:
        MlflowClient().set_registered_model_alias(name, alias, version)
    return version


def logistic():
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))


def boosting():
    return GradientBoostingClassifier(n_estimators=150, max_depth=3, learning_rate=0.1, random_state=0)


def main() -> None:
    prefix, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20261202)
    x_train, y_train, _ = transactions(rng, 5000)
    x_hold, y_hold, g_hold = transactions(rng, 2000)
    x_live, y_live, g_live = transactions(rng, 4000)
    write_csv(os.path.join(out_dir, "holdout.csv"), x_hold, y_hold, g_hold)
    write_csv(os.path.join(out_dir, "live.csv"), x_live, y_live, g_live)
    auc = lambda clf: float(roc_auc_score(y_hold, clf.predict_proba(x_hold)[:, 1]))  # noqa: E731

    # better: logistic regression replaced by gradient boosting, same rows.
    name = f"{prefix}-better"
    lr = logistic().fit(x_train, y_train)
    gb = boosting().fit(x_train, y_train)
    better = {
        "model": name,
        "champion": log(lr, name, "champion"),
        "candidate": log(gb, name),
        "auc": {"champion": auc(lr), "candidate": auc(gb)},
    }

    # skew: the champion never saw account age; the candidate relies on it.
    name = f"{prefix}-skew"
    blind = x_train.copy()
    blind[:, AGE] = 0.0
    lr_blind = logistic().fit(blind, y_train)
    gb_age = boosting().fit(x_train, y_train)
    coef = lr_blind.steps[-1][1].coef_[0]
    skew = {
        "model": name,
        "champion": log(lr_blind, name, "champion"),
        "candidate": log(gb_age, name),
        "auc": {"champion": auc(lr_blind), "candidate": auc(gb_age)},
        "feature": FEATURES[AGE],
        "uses": {
            "championWeight": float(coef[AGE]),
            "candidateImportance": float(gb_age.feature_importances_[AGE]),
        },
    }
    print(json.dumps({"better": better, "skew": skew}))


if __name__ == "__main__":
    main()
