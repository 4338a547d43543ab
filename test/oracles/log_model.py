"""Log a scikit-learn classifier as an ONNX model the way a training job does, and register it.

Usage: log_model.py <registered_model_name> <n_features> [external]
  external: fit a small MLPClassifier instead, whose weights are graph initializers (LogisticRegression's
            live in node attributes), stored raw so MLflow's save (onnx.save_model with external data,
            threshold 1 KiB) writes them to a separate file beside model.onnx, as it does for big models.
Env:   MLFLOW_TRACKING_URI (the test server)
Prints one JSON line: {"version": "...", "model_uri": "...", "run_id": "...", "model_id": "...", "n_features": N,
                       "sample": [[...]], "probabilities": [...]} (P(class 1) for the sample rows, from scikit-learn)
"""

import json
import sys

import mlflow
import mlflow.onnx
import numpy as np
from onnx import numpy_helper
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier


def main() -> None:
    name = sys.argv[1]
    n_features = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    external = len(sys.argv) > 3 and sys.argv[3] == "external"
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, n_features)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    clf = (MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0) if external else LogisticRegression()).fit(x, y)
    # zipmap=False gives a plain float tensor of probabilities instead of a sequence of maps.
    onx = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}, target_opset=15)

    if external:
        # Only raw_data tensors can move to external files; skl2onnx writes float_data.
        for i, tensor in enumerate(onx.graph.initializer):
            onx.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name))

    sample = x[:5]
    mlflow.set_experiment("prograde-oracles")
    with mlflow.start_run() as run:
        info = mlflow.onnx.log_model(onx, name="model", registered_model_name=name, save_as_external_data=external)
    version = info.registered_model_version
    print(
        json.dumps(
            {
                "version": str(version),
                "model_uri": f"models:/{name}/{version}",
                "run_id": run.info.run_id,
                "model_id": info.model_id,
                "n_features": n_features,
                "sample": sample.astype(float).tolist(),
                "probabilities": clf.predict_proba(sample)[:, 1].astype(float).tolist(),
            }
        )
    )


if __name__ == "__main__":
    main()
