"""The model of the serving comparison (npm run bench -- serving-compare): a scikit-learn
GradientBoostingClassifier on 30 float features, converted with skl2onnx and logged with
mlflow.onnx.log_model the way a training job does, into a throw-away tracking store.

Usage: serving-model.py <folder>
  Writes <folder>/mlflow.db (tracking store) and <folder>/artifacts, and <folder>/model.onnx (the logged
  model's ONNX file, downloaded back from the store: every system serves this one file).
Prints one JSON line: {"model_uri", "tracking_uri", "onnx_path", "input", "n_features",
                       "sample": [[...]], "probabilities": [...]} (P(class 1) from scikit-learn).
"""

import json
import os
import shutil
import sys

import mlflow
import mlflow.onnx
import numpy as np
import onnx
from onnx import helper
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier

N_FEATURES = 30


def score_only(onx: onnx.ModelProto) -> onnx.ModelProto:
    """One output, `probability` [N] = P(class 1): MLflow's ONNX flavor answers a dataframe with one
    column per output, each flattened, so the [N] label beside [N, 2] probabilities fails there."""
    graph = onx.graph
    graph.node.append(helper.make_node("Constant", [], ["class_1"], value_int=1))
    graph.node.append(helper.make_node("Gather", ["probabilities", "class_1"], ["probability"], axis=1))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("probability", onnx.TensorProto.FLOAT, [None]))
    onnx.checker.check_model(onx)
    return onx


def main() -> None:
    folder = os.path.abspath(sys.argv[1])
    os.makedirs(folder, exist_ok=True)
    tracking_uri = f"sqlite:///{os.path.join(folder, 'mlflow.db')}"
    mlflow.set_tracking_uri(tracking_uri)
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4000, N_FEATURES)).astype(np.float32)
    logit = x[:, 0] + 0.5 * x[:, 1] - 0.7 * x[:, 2] * x[:, 3] + 0.3 * np.sin(x[:, 4])
    y = (logit + rng.normal(scale=0.5, size=len(x)) > 0).astype(np.int64)
    clf = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(x, y)
    # zipmap=False: a plain [N, 2] float tensor of probabilities instead of a sequence of maps.
    onx = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}, target_opset=15)
    onx = score_only(onx)
    experiment = mlflow.create_experiment(
        "serving-compare", artifact_location=f"file://{os.path.join(folder, 'artifacts')}"
    )
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.onnx.log_model(onx, name="model")
    local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=os.path.join(folder, "downloaded"))
    onnx_path = os.path.join(folder, "model.onnx")
    shutil.copyfile(os.path.join(local, "model.onnx"), onnx_path)
    sample = x[:3]
    print(
        json.dumps(
            {
                "model_uri": info.model_uri,
                "tracking_uri": tracking_uri,
                "onnx_path": onnx_path,
                "input": onx.graph.input[0].name,
                "n_features": N_FEATURES,
                "sample": sample.astype(float).tolist(),
                "probabilities": clf.predict_proba(sample)[:, 1].astype(float).tolist(),
            }
        )
    )


if __name__ == "__main__":
    main()
