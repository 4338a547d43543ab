"""The protocol every Python oracle speaks with the tests: a batch of cases on stdin, one JSON answer.

stdin:  {"cases": [{"id": ..., "fn": name, "args": ...}, ...]}
stdout: {"results": {id: {"value": ...} | {"error": "Type: message"}}}
"""
import json
import math
import sys
import warnings

import numpy as np


def serve(functions):
    warnings.simplefilter("ignore")
    request = json.load(sys.stdin)
    results = {}
    for case in request["cases"]:
        try:
            value = functions[case["fn"]](case["args"])
            results[case["id"]] = {"value": float(value) if isinstance(value, (np.floating, float, int)) else value}
        except Exception as e:  # the test decides whether an error was expected
            results[case["id"]] = {"error": f"{type(e).__name__}: {e}"}
    # JSON has no NaN/Infinity; send them as strings so a mismatch shows up as a failed comparison.
    json.dump({"results": _finite(results)}, sys.stdout, allow_nan=False)


def _finite(x):
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x
