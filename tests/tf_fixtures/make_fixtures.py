"""Run every case of tests/tf_cases.py in real TensorFlow and store inputs and results.

Needs TensorFlow, which is never a dependency of graphengine or of its tests; use a separate
environment:

    python -m venv /work/venv-tf && /work/venv-tf/bin/pip install tensorflow-cpu numpy
    /work/venv-tf/bin/python tests/tf_fixtures/make_fixtures.py

writes tests/tf_fixtures/tf_results.npz: for each case ``<case>/<output>`` (values with their
dtypes; a stacked trajectory for training cases), ``<case>/__in<i>`` (the drawn inputs), and a
``__meta__`` JSON entry (TF version; per case: outputs that are None in TF, or TF's error).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402
from tf_runner import CASES, FIXTURES, run_alone  # noqa: E402

tf.disable_v2_behavior()


def main() -> None:
    arrays: dict = {}
    meta: dict = {"tf_version": tf.__version__, "numpy_version": np.__version__, "cases": {}}
    for name, c in sorted(CASES.items()):
        try:
            out, drawn = run_alone(tf, c, tf.Session)
        except Exception as e:  # noqa: BLE001 - recorded; the test skips such a case with TF's error
            meta["cases"][name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
            print("TF error", name, meta["cases"][name]["error"])
            continue
        meta["cases"][name] = {"none": sorted(k for k, v in out.items() if v is None),
                               "outputs": sorted(out), "inputs": len(drawn)}
        for k, v in out.items():
            if v is not None:
                arrays[f"{name}/{k}"] = np.asarray(v)
        for i, d in enumerate(drawn):
            arrays[f"{name}/__in{i}"] = d
    arrays["__meta__"] = np.array(json.dumps(meta, sort_keys=True))
    np.savez_compressed(HERE / FIXTURES, **arrays)
    size = (HERE / FIXTURES).stat().st_size
    print(f"{len(meta['cases'])} cases, {sum(1 for m in meta['cases'].values() if 'error' in m)} TF errors, "
          f"{size / 1024:.0f} KiB -> {HERE / FIXTURES}")


if __name__ == "__main__":
    main()
