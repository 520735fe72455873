"""Checkpoints under faults and bad input: any variable name, every malformed file as a
CheckpointError naming it, and a process killed during save or rotation leaves the previous
checkpoint loadable and latest_checkpoint() naming a complete one."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphengine as ge
from graphengine.checkpoint import CheckpointError, Saver, latest_checkpoint, load_checkpoint


def _session(names):
    g = ge.Graph()
    with g.as_default():
        vs = [ge.Variable(np.arange(3, dtype=np.float32) + i, name=n) for i, n in enumerate(names)]
        init = ge.global_variables_initializer()
    s = ge.Session(graph=g, device="reference")
    s.run(init)
    return s, vs


def test_variable_names_are_unrestricted(tmp_path):
    names = ["file", "allow_pickle", "args", "kwds", "a/b", "x.npy", "arr_0", "ü"]
    s, vs = _session(names)
    path = s.save(str(tmp_path / "m"))
    with np.load(path) as z:  # plain NumPy reads it
        assert sorted(k for k in z.files if k != "__graphengine__") == sorted(names)
    for v in vs:
        s.set_value(v, np.zeros(3, np.float32))
    s.restore(path)
    for i, v in enumerate(vs):
        assert s.get_value(v).tolist() == [i, i + 1.0, i + 2.0]


def _corruptions(raw: bytes) -> dict:
    meta_at = raw.index(b"__graphengine__")
    return {"empty": b"", "truncated_half": raw[: len(raw) // 2], "truncated_1": raw[:-1],
            "bit_flip_data": raw[:300] + bytes([raw[300] ^ 0x10]) + raw[301:],
            "bit_flip_meta": raw[:meta_at + 120] + bytes([raw[meta_at + 120] ^ 0x01]) + raw[meta_at + 121:],
            "not_a_zip": b"hello world", "npy_not_npz": b"\x93NUMPY\x01\x00" + b"x" * 40}


def test_every_malformed_file_is_a_checkpoint_error_naming_it(tmp_path):
    s, _ = _session(["w", "b"])
    raw = open(s.save(str(tmp_path / "good")), "rb").read()
    for name, blob in _corruptions(raw).items():
        p = tmp_path / f"{name}.npz"
        p.write_bytes(blob)
        with pytest.raises(CheckpointError, match=name):
            load_checkpoint(str(p))
        with pytest.raises(CheckpointError, match=name):
            s.restore(str(p))
    rng = np.random.default_rng(0)
    for k, pos in enumerate(rng.choice(len(raw), 200, replace=False)):  # any single bit anywhere
        p = tmp_path / "flip.npz"
        p.write_bytes(raw[:pos] + bytes([raw[pos] ^ (1 << k % 8)]) + raw[pos + 1:])
        try:
            load_checkpoint(str(p))
        except CheckpointError as e:
            assert "flip.npz" in str(e)


@pytest.mark.parametrize("meta", ["[1, 2]", "not json", '{"format": "graphengine-checkpoint"}',
                                  '{"format": "graphengine-checkpoint", "version": "1", "variables": {}}',
                                  '{"format": "graphengine-checkpoint", "version": 1, "variables": []}',
                                  '{"format": "graphengine-checkpoint", "version": 1, "variables": {"w": 3}}',
                                  '{"format": "graphengine-checkpoint", "version": 1, "variables": '
                                  '{"w": {"dtype": "<f4", "shape": [4]}}}',
                                  '{"format": "graphengine-checkpoint", "version": 1, "variables": '
                                  '{"w": {"dtype": "nonsense", "shape": [3]}}}'])
def test_malformed_metadata_is_a_checkpoint_error(tmp_path, meta):
    p = tmp_path / "meta.npz"
    np.savez(p, w=np.zeros(3, np.float32), __graphengine__=np.array(meta))
    with pytest.raises(CheckpointError, match="meta.npz"):
        load_checkpoint(str(p))
    np.savez(p, w=np.zeros(3, np.float32), __graphengine__=np.zeros(2))  # metadata of the wrong type
    with pytest.raises(CheckpointError, match="meta.npz"):
        load_checkpoint(str(p))


def test_state_file_is_written_before_old_checkpoints_are_deleted(tmp_path, monkeypatch):
    s, _ = _session(["w"])
    saver = Saver(max_to_keep=1)
    saver.save(s, str(tmp_path / "m"), global_step=1)
    seen = []
    real = os.remove
    monkeypatch.setattr(os, "remove", lambda p: (seen.append(latest_checkpoint(str(tmp_path))), real(p)))
    saver.save(s, str(tmp_path / "m"), global_step=2)
    assert seen == [str(tmp_path / "m-2")]


_CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import graphengine as ge
    from graphengine import checkpoint
    d, kill_at = sys.argv[1], sys.argv[2]
    v = ge.Variable(np.zeros(1000, np.float32), name="v")
    s = ge.Session(device="reference")
    s.run(ge.global_variables_initializer())
    saver = checkpoint.Saver(max_to_keep=2)
    for step in (1, 2, 3):
        s.set_value(v, np.full(1000, step, np.float32))
        saver.save(s, os.path.join(d, "model"), global_step=step)
    def die(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)
    if kill_at == "array_write":       # in the middle of writing the new checkpoint's data
        real = np.lib.format.write_array
        def half(f, a, **k):
            f.write(b"x" * 100)
            die()
        np.lib.format.write_array = half
    elif kill_at == "checkpoint_rename":
        real_replace = os.replace
        os.replace = lambda a, b: die() if b.endswith(".npz") else real_replace(a, b)
    elif kill_at == "state_file_rename":
        real_replace = os.replace
        os.replace = lambda a, b: die() if b.endswith("checkpoint") else real_replace(a, b)
    elif kill_at == "rotation":        # deleting the oldest checkpoint
        os.remove = die
    s.set_value(v, np.full(1000, 4, np.float32))
    saver.save(s, os.path.join(d, "model"), global_step=4)
    print("not killed")
""")


@pytest.mark.parametrize("kill_at,latest", [("array_write", 3), ("checkpoint_rename", 3),
                                            ("state_file_rename", 3), ("rotation", 4)])
def test_a_process_killed_during_save_or_rotation_leaves_a_loadable_latest_checkpoint(tmp_path, kill_at, latest):
    r = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), kill_at], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stdout, r.stderr)
    prefix = latest_checkpoint(str(tmp_path))
    assert prefix == str(tmp_path / f"model-{latest}")
    assert load_checkpoint(prefix)["v"].tolist() == [float(latest)] * 1000
    for step in (2, 3):  # the previous checkpoints are intact
        assert load_checkpoint(str(tmp_path / f"model-{step}"))["v"][0] == step
    with open(tmp_path / "checkpoint") as f:
        listed = [json.loads(line.split(":", 1)[1]) for line in f if line.startswith("all_model")]
    assert all(os.path.exists(tmp_path / f"{p}.npz") for p in listed)
