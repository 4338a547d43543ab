"""Log and register, from one Python process, a model for each way a training job commonly logs ONNX,
then load each back from the registry with MLflow's own pyfunc loader and predict a few holdout rows.

Usage: log_conformance.py <name_prefix> <out_dir>
Env:   MLFLOW_TRACKING_URI (the test server)
Writes <out_dir>/holdout.csv (f0..f3, label) and <out_dir>/holdout_regression.csv (f0..f3, target).
Prints one JSON line: {"lightgbm": "installed" | "<why not>", "cases": [case, ...]} where each case is
  {"case", "model", "version", "expect": "promoted" | "rejected" | "failed", "task", "dataset", "label",
   "contract", "signature": <MLmodel signature as MLflow wrote it, or null>, "feed": "array" | "dict" | "dataframe",
   "sample": [[...]], "reference": {output: values} | null, "reference_by": "pyfunc" | "onnxruntime" | null,
   "pyfunc_error": str | null}
The reference is mlflow.pyfunc.load_model(models:/name/version).predict(sample); where MLflow's pyfunc
cannot predict (a DataFrame signature over a classifier's [N,2] output), it is onnxruntime on the model
mlflow.onnx.load_model returns, and pyfunc_error says why.
"""

import json
import os
import sys
import warnings

import mlflow
import mlflow.onnx
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import onnxruntime as ort
import pandas as pd
from mlflow.models import infer_signature
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

warnings.filterwarnings("ignore")

FEATURES = ["f0", "f1", "f2", "f3"]
OPSET = {"": 15, "ai.onnx.ml": 3}
PIP = ["mlflow", "onnx", "onnxruntime", "scikit-learn"]


def data(rng):
    # float32 values held in float64, so the float32 and float64 paths see the very same numbers.
    x = rng.normal(size=(600, 4)).astype(np.float32).astype(np.float64)
    noise = rng.normal(scale=0.5, size=600)
    label = (x[:, 0] + 0.5 * x[:, 1] - 0.3 * x[:, 2] + noise > 0).astype(np.int64)
    target = 2.0 * x[:, 0] - x[:, 1] + 0.5 * x[:, 3] + 0.1 * noise
    return x, label, target


def write_csv(path, x, column, values):
    frame = pd.DataFrame(x, columns=FEATURES)
    frame[column] = values
    frame.to_csv(path, index=False, float_format="%.9g")


def tensor(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": shape}


def classifier_contract(dtype="float32", label=True):
    outputs = [tensor("label", "int64", [-1])] if label else []
    outputs.append(tensor("probabilities", dtype, [-1, 2]))
    return {"inputs": [tensor("X", dtype, [-1, 4])], "outputs": outputs, "scoreOutput": "probabilities"}


def as_lists(predictions):
    if isinstance(predictions, pd.DataFrame):
        return {c: predictions[c].tolist() for c in predictions.columns}
    return {k: np.asarray(v).tolist() for k, v in predictions.items()}


def main() -> None:
    prefix, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(7)
    x, label, target = data(rng)
    train, hold = slice(0, 300), slice(300, 600)
    x64, x32 = x[train], x[train].astype(np.float32)
    write_csv(os.path.join(out_dir, "holdout.csv"), x[hold], "label", label[hold])
    write_csv(os.path.join(out_dir, "holdout_regression.csv"), x[hold], "target", target[hold])
    sample64 = x[hold][:5]
    sample32 = sample64.astype(np.float32)
    frame32 = pd.DataFrame(sample32, columns=FEATURES)
    y = label[train]

    logreg = LogisticRegression().fit(x32, y)
    forest = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(x32, y)
    regressor = GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0).fit(x32, target[train])
    no_zipmap = lambda m: {id(m): {"zipmap": False}}  # noqa: E731
    logreg_onnx = to_onnx(logreg, x32[:1], options=no_zipmap(logreg), target_opset=OPSET)
    proba32 = logreg.predict_proba(x32)

    cases = [
        # (case, model or onnx, signature, feed, expect, contract, extras)
        ("logreg-unnamed", logreg_onnx, infer_signature(x32, proba32), "array", "promoted", classifier_contract()),
        (
            "logreg-named",
            logreg_onnx,
            infer_signature({"X": x32}, {"label": logreg.predict(x32), "probabilities": proba32}),
            "dict",
            "promoted",
            classifier_contract(),
        ),
        (
            "logreg-columns",
            logreg_onnx,
            infer_signature(pd.DataFrame(x32, columns=FEATURES), proba32[:, 1]),
            "dataframe",
            "promoted",
            classifier_contract(),
        ),
        ("logreg-no-signature", logreg_onnx, None, "array", "promoted", classifier_contract()),
        (
            "logreg-float64-graph",
            to_onnx(logreg, x64[:1], options=no_zipmap(logreg), target_opset=OPSET),
            infer_signature(x64, logreg.predict_proba(x64)),
            "array64",
            "promoted",
            classifier_contract("float64"),
        ),
        (
            "logreg-float64-signature",
            logreg_onnx,
            infer_signature(x64, logreg.predict_proba(x64)),
            "array64",
            "promoted",
            classifier_contract(),
        ),
        (
            "forest",
            to_onnx(forest, x32[:1], options=no_zipmap(forest), target_opset=OPSET),
            infer_signature(x32, forest.predict_proba(x32)),
            "array",
            "promoted",
            classifier_contract(),
        ),
        (
            "logreg-zipmap",
            to_onnx(logreg, x32[:1], target_opset=OPSET),
            infer_signature(x32, proba32),
            "array",
            "rejected",
            classifier_contract(label=False),
        ),
        (
            "regressor-columns",
            to_onnx(regressor, x32[:1], target_opset=OPSET),
            infer_signature(pd.DataFrame(x32, columns=FEATURES), regressor.predict(x32)),
            "dataframe",
            "promoted",
            {"inputs": [tensor("X", "float32", [-1, 4])], "outputs": [tensor("variable", "float32", [-1, 1])]},
        ),
        ("sklearn-pickle", logreg, infer_signature(x32, proba32), "array", "rejected", classifier_contract()),
    ]

    try:
        import lightgbm
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        booster = lightgbm.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, random_state=0).fit(x32, y)
        lgbm_onnx = onnxmltools.convert_lightgbm(
            booster, initial_types=[("X", FloatTensorType([None, 4]))], zipmap=False, target_opset=15
        )
        cases.append(
            (
                "lightgbm",
                lgbm_onnx,
                infer_signature(x32, booster.predict_proba(x32)),
                "array",
                "promoted",
                classifier_contract(),
            )
        )
        lightgbm_status = "installed"
    except ImportError as e:
        lightgbm_status = f"not installed: {e}"

    mlflow.set_experiment("prograde-conformance")
    results = []
    with mlflow.start_run():
        for case, model, signature, feed, expect, contract in cases:
            name = f"{prefix}-{case}"
            # Given requirements skip MLflow's inference of them, which loads each model in a subprocess.
            logged = {"name": case, "signature": signature, "registered_model_name": name, "pip_requirements": PIP}
            if case == "sklearn-pickle":
                info = mlflow.sklearn.log_model(model, **logged)
            else:
                info = mlflow.onnx.log_model(model, **logged)
            version = str(info.registered_model_version)
            uri = f"models:/{name}/{version}"
            regression = case.startswith("regressor")
            sample = sample64 if feed == "array64" else sample32
            result = {
                "case": case,
                "model": name,
                "version": version,
                "expect": expect,
                "task": "regression" if regression else "binary-classification",
                "dataset": "holdout_regression.csv" if regression else "holdout.csv",
                "label": "target" if regression else "label",
                "contract": contract,
                "signature": signature.to_dict() if signature is not None else None,
                "feed": feed,
                "sample": sample.astype(float).tolist(),
                "reference": None,
                "reference_by": None,
                "pyfunc_error": None,
            }
            if case != "sklearn-pickle":
                pyfunc = mlflow.pyfunc.load_model(uri)
                given = {"array": sample, "array64": sample, "dict": {"X": sample}, "dataframe": frame32}[feed]
                try:
                    result["reference"] = as_lists(pyfunc.predict(given))
                    result["reference_by"] = "pyfunc"
                except Exception as e:  # noqa: BLE001 - MLflow's own limitation is part of the record
                    result["pyfunc_error"] = str(e)[:500]
                    session = ort.InferenceSession(mlflow.onnx.load_model(uri).SerializeToString())
                    names = [o.name for o in session.get_outputs()]
                    result["reference"] = dict(zip(names, (np.asarray(v).tolist() for v in session.run(None, {"X": sample}))))
                    result["reference_by"] = "onnxruntime"
            results.append(result)
    print(json.dumps({"lightgbm": lightgbm_status, "cases": results}))


if __name__ == "__main__":
    main()
