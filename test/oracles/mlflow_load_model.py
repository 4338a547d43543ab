"""Load a registered model with MLflow's own Python loaders and score a batch, to prove interop.

Usage: mlflow_load_model.py <model_uri> <n_features>
Env:   MLFLOW_TRACKING_URI (the test server)
Prints one JSON line: {"onnx_inputs": [...], "pyfunc_rows": N, "pyfunc_outputs": [...], "scores": [...]}
"""

import json
import sys

import mlflow.onnx
import mlflow.pyfunc
import numpy as np


def main() -> None:
    uri = sys.argv[1]
    n_features = int(sys.argv[2])
    onnx_model = mlflow.onnx.load_model(uri)
    inputs = [i.name for i in onnx_model.graph.input]

    pyfunc = mlflow.pyfunc.load_model(uri)
    batch = np.arange(3 * n_features, dtype=np.float32).reshape(3, n_features) / 10.0
    predictions = pyfunc.predict({inputs[0]: batch})
    first = next(iter(predictions.values()))
    print(
        json.dumps(
            {
                "onnx_inputs": inputs,
                "pyfunc_outputs": sorted(predictions.keys()),
                "pyfunc_rows": int(np.asarray(first).shape[0]),
                "scores": np.asarray(first).reshape(3, -1)[:, -1].astype(float).tolist(),
            }
        )
    )


if __name__ == "__main__":
    main()
