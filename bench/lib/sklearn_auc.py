"""One cold roc_auc_score call in a fresh process, for `npm run bench -- gates-speed`.

argv: <prefix> written by the export-auc-data point (float32 scores, float64 labels, the rows the
TypeScript `auc` point scores). Prints {"ms", "cpuMs", "auc", "sklearn", "numpy"} as JSON. The import
and the file read are not timed, as the TypeScript side does not time its data preparation.
"""

import json
import sys
import time

import numpy as np
import sklearn
from sklearn.metrics import roc_auc_score

prefix = sys.argv[1]
scores = np.fromfile(f"{prefix}.scores.f32", dtype=np.float32)
labels = np.fromfile(f"{prefix}.labels.f64", dtype=np.float64)
cpu0 = time.process_time()
t0 = time.perf_counter()
auc = roc_auc_score(labels, scores)
ms = (time.perf_counter() - t0) * 1000
cpu_ms = (time.process_time() - cpu0) * 1000
print(json.dumps({"ms": ms, "cpuMs": cpu_ms, "auc": float(auc), "sklearn": sklearn.__version__, "numpy": np.__version__}))
