"""Runs tf_cases on a ``tf`` module: one graph per case (TensorFlow, when making fixtures), or
every case side by side in one graph (graphengine: one compiled step for all of them)."""
from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from tf_cases import CASES, Case, Draw, Spec

FIXTURES = "tf_results.npz"


def build(tf: Any, c: Case) -> tuple[Spec, list]:
    rng = Draw(zlib.crc32(c.name.encode()))
    return c.fn(tf, rng, c.dt), rng.drawn


def _names(spec: Spec) -> list[str]:
    return [k for k, v in spec.fetch.items() if v is not None]


def _collect(spec: Spec, rows: list[list]) -> dict:
    """rows: one list of fetched values per run (a train spec has steps + 1 of them)."""
    names = _names(spec)
    out: dict = {k: None for k, v in spec.fetch.items() if v is None}
    for i, k in enumerate(names):
        vals = [np.asarray(r[i]) for r in rows]
        out[k] = vals[0] if spec.train is None else np.stack(vals)
    return out


def run_alone(tf: Any, c: Case, session: Any) -> tuple[dict, list]:
    with tf.Graph().as_default():
        spec, drawn = build(tf, c)
        with session() as sess:
            sess.run(tf.global_variables_initializer())
            fetches = [spec.fetch[k] for k in _names(spec)]
            if spec.train is None:
                return _collect(spec, [sess.run(fetches, spec.feed)]), drawn
            rows = []
            for _ in range(spec.steps):
                rows.append(sess.run(fetches, spec.feed))
                sess.run(spec.train, spec.feed)
            rows.append(sess.run(fetches, spec.feed))
            return _collect(spec, rows), drawn


def run_together(tf: Any, cases: list[Case], session: Any) -> tuple[dict, Any]:
    """{case: (outputs, drawn inputs) or the exception it raised}, and the session's plan for the
    single-run cases (so a caller can check it compiled). Falls back to one graph per case when
    the combined run fails, so one broken case cannot hide the others' results."""
    results: dict = {}
    built: list[tuple[Case, Spec, list]] = []
    graph = tf.Graph()
    with graph.as_default():
        for c in cases:
            try:
                with tf.name_scope(c.name.replace("-", "_")):
                    spec, drawn = build(tf, c)
                built.append((c, spec, drawn))
            except Exception as e:  # noqa: BLE001 - reported as that case's failure
                results[c.name] = e
        try:
            with session() as sess:
                sess.run(tf.global_variables_initializer())
                once = [b for b in built if b[1].train is None]
                feed = {k: v for _, s, _ in built for k, v in s.feed.items()}
                vals = sess.run([[s.fetch[k] for k in _names(s)] for _, s, _ in once], feed)
                for (c, s, d), v in zip(once, vals):
                    results[c.name] = (_collect(s, [v]), d)
                trained = [b for b in built if b[1].train is not None]
                rows: dict = {c.name: [] for c, _, _ in trained}
                for step in range(max([s.steps for _, s, _ in trained], default=0) + 1):
                    live = [b for b in trained if step <= b[1].steps]
                    got = sess.run([[s.fetch[k] for k in _names(s)] for _, s, _ in live], feed)
                    for (c, _, _), v in zip(live, got):
                        rows[c.name].append(v)
                    todo = [s.train for _, s, _ in live if step < s.steps]
                    if todo:
                        sess.run(tf.group(*todo), feed)
                for c, s, d in trained:
                    results[c.name] = (_collect(s, rows[c.name]), d)
                plan = sess.plan_info([[s.fetch[k] for k in _names(s)] for _, s, _ in once], feed) \
                    if hasattr(sess, "plan_info") else None
                return results, plan
        except Exception:  # noqa: BLE001
            pass
    for c, _, _ in built:
        try:
            results[c.name] = run_alone(tf, c, session)
        except Exception as e:  # noqa: BLE001
            results[c.name] = e
    return results, None


__all__ = ["CASES", "FIXTURES", "build", "run_alone", "run_together"]
