"""Checkpoints: variable values in one ``.npz`` file, written atomically, restored with checks.

A checkpoint is an ``.npz`` file (the format ``np.savez`` writes): one array per variable, keyed
by the variable's op name
(``"layer1/W"``), plus a ``__graphengine__`` entry holding JSON metadata (format version, each
variable's dtype and shape). Any NumPy can read it: ``np.load(path)["layer1/W"]``.

Writes go to a temporary file in the target directory, are flushed and fsync'ed, then renamed
over the target with ``os.replace``: a crash mid-save leaves the previous checkpoint intact.
Restores check every name, shape and dtype before touching any variable.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import struct
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import GraphEngineError

FORMAT = "graphengine-checkpoint"
FORMAT_VERSION = 1
META_KEY = "__graphengine__"
STATE_FILE = "checkpoint"  # the TF1 name of the file that lists a directory's checkpoints


class CheckpointError(GraphEngineError, ValueError):
    """A checkpoint that cannot be read, or does not match the variables it is restored into."""


def _named(session: Any, var_list: Any) -> dict[str, Any]:
    """name -> Variable for ``var_list`` (None: every global variable; a dict: its own names)."""
    if var_list is None:
        from .variables import global_variables
        var_list = global_variables(session.graph)
    if isinstance(var_list, dict):
        return dict(var_list)
    out: dict[str, Any] = {}
    for v in var_list:
        name = v.op.name
        if name in out and out[name] is not v:
            raise CheckpointError(f"two variables share the name {name!r}; pass var_list as a "
                                  "dict {checkpoint_name: variable}")
        out[name] = v
    return out


def checkpoint_file(path: str) -> str:
    """The file a checkpoint path refers to: ``path`` itself if it ends in .npz, else path + .npz."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def save_state(session: Any, path: str, var_list: Any = None) -> str:
    """Write the values of ``var_list`` (default: all global variables) to ``path`` atomically.

    Returns the file written (``path``, with ``.npz`` appended when missing). In a distributed
    job (``graphengine.distributed``) only rank 0 writes; the others return the path.

    >>> import os, tempfile, numpy as np, graphengine as ge
    >>> w = ge.Variable(np.arange(3, dtype=np.float32), name="w")
    >>> with ge.Session() as s:
    ...     s.run(ge.global_variables_initializer())
    ...     f = save_state(s, os.path.join(tempfile.mkdtemp(), "model"))
    >>> np.load(f)["w"].tolist()
    [0.0, 1.0, 2.0]
    """
    from .distributed._mpi import writes_files
    if not writes_files():  # data-parallel ranks hold the same values: rank 0 writes them
        return checkpoint_file(path)
    named = _named(session, var_list)
    if META_KEY in named:
        raise CheckpointError(f"a variable may not be called {META_KEY!r}")
    # reshape: a scalar set through the core's convert_feed can come back as shape (1,)
    arrays = {name: np.asarray(session.get_value(v)).reshape(v.shape) for name, v in named.items()}
    meta = {"format": FORMAT, "version": FORMAT_VERSION,
            "variables": {n: {"dtype": a.dtype.str, "shape": list(a.shape)} for n, a in arrays.items()}}
    target = checkpoint_file(path)
    members = {**arrays, META_KEY: np.array(json.dumps(meta))}
    _atomic_write(target, lambda f: _write_npz(f, members))
    return target


def _write_npz(f: Any, arrays: dict[str, np.ndarray]) -> None:
    """What ``np.savez`` writes (a zip of ``<name>.npy`` members, so ``np.load`` reads it), with
    any string as a name: ``np.savez(f, **arrays)`` breaks on names such as ``file``."""
    seen: dict[str, str] = {}
    for name in arrays:
        member = zipfile.ZipInfo(name + ".npy").filename
        if member != name + ".npy" or member in seen:  # zip names cannot hold NUL; "\\" is "/" on Windows
            other = f" (it would collide with {seen[member]!r})" if member in seen else ""
            raise CheckpointError(f"variable name {name!r} cannot be stored in a checkpoint{other}; "
                                  "pass var_list as a dict {checkpoint_name: variable}")
        seen[member] = name
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, a in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as m:
                np.lib.format.write_array(m, np.asarray(a, order="C"), allow_pickle=False)


def _atomic_write(target: str, write: Any) -> None:
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX; not possible on Windows)
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def load_checkpoint(path: str) -> dict[str, np.ndarray]:
    """All arrays of a checkpoint file as ``{variable name: ndarray}``.

    Any file that is not a complete, consistent checkpoint (missing, empty, truncated,
    bit-flipped, not a zip, malformed or mismatched metadata) raises ``CheckpointError`` naming
    the file; no other exception escapes for bad content.

    >>> import graphengine as ge
    >>> # load_checkpoint("model.npz")["layer1/W"].shape
    """
    target = checkpoint_file(path)
    if not os.path.exists(target) and os.path.exists(path):
        target = path
    if not os.path.exists(target):
        raise CheckpointError(f"checkpoint {target!r} does not exist")
    try:
        data = _read_npz(target)
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, KeyError, TypeError, SyntaxError, OverflowError, MemoryError,
            NotImplementedError, zipfile.BadZipFile, zlib.error, struct.error) as e:
        raise CheckpointError(f"{target!r} is not a readable checkpoint: {type(e).__name__}: {e}") from None
    if META_KEY not in data:
        raise CheckpointError(f"{target!r} is an .npz file without graphengine metadata "
                              "(was it written by graphengine.checkpoint?)")
    _check_meta(target, data.pop(META_KEY), data)
    return data


def _read_npz(target: str) -> dict[str, np.ndarray]:
    """The members of an .npz file; each one's size is checked against its header before it
    is read (a flipped shape cannot ask for terabytes), and zipfile checks each CRC."""
    out: dict[str, np.ndarray] = {}
    fmt = np.lib.format
    with zipfile.ZipFile(target) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise CheckpointError(f"{target!r} is not a checkpoint: unexpected member {info.filename!r}")
            key = info.filename[:-4]
            if key in out:
                raise CheckpointError(f"{target!r} is not a valid checkpoint: {key!r} appears twice")
            raw = zf.read(info)
            f = io.BytesIO(raw)
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            count = int(np.prod(shape, dtype=object))
            if dtype.hasobject or f.tell() + count * dtype.itemsize != len(raw):
                raise CheckpointError(f"{target!r} is not a valid checkpoint: member {key!r} holds "
                                      f"{len(raw) - f.tell()} bytes of data for shape {shape} {dtype}")
            arr = np.frombuffer(raw, dtype, count, offset=f.tell())
            out[key] = arr.reshape(shape, order="F" if fortran else "C").copy()
    return out


def _check_meta(target: str, raw: np.ndarray, data: dict[str, np.ndarray]) -> None:
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{target!r} is not a valid graphengine checkpoint: {why}")
    if raw.shape != () or raw.dtype.kind not in "US":
        raise bad(f"metadata is a {raw.dtype} array of shape {raw.shape}, not a JSON string")
    try:
        meta = json.loads(str(raw[()]))
    except ValueError as e:
        raise bad(f"metadata is not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise bad(f"metadata is a JSON {type(meta).__name__}, not an object")
    version = meta.get("version")
    if meta.get("format") != FORMAT or type(version) is not int or version > FORMAT_VERSION:
        raise CheckpointError(f"{target!r} has format {meta.get('format')!r} version "
                              f"{version!r}; this graphengine reads {FORMAT} <= {FORMAT_VERSION}")
    specs = meta.get("variables")
    if not isinstance(specs, dict):
        raise bad("metadata has no 'variables' object")
    if set(specs) != set(data):
        diff = sorted(set(specs) ^ set(data))
        raise bad(f"metadata and arrays disagree on {diff[:5]}")
    for name, spec in specs.items():
        a = data[name]
        ok = isinstance(spec, dict) and isinstance(spec.get("dtype"), str) and isinstance(spec.get("shape"), list)
        try:
            ok = ok and np.dtype(spec["dtype"]) == a.dtype and tuple(spec["shape"]) == a.shape
        except TypeError:
            ok = False
        if not ok:
            raise bad(f"metadata for {name!r} ({spec!r}) does not describe its array "
                      f"({a.dtype.str} {list(a.shape)})")


def restore_state(session: Any, path: str, var_list: Any = None, allow_extra: bool | None = None) -> None:
    """Set the variables of ``var_list`` (default: all global variables) from a checkpoint.

    Every name, shape and dtype is checked first; on any mismatch nothing is changed and a
    ``CheckpointError`` lists each variable that is missing from the checkpoint, differs in shape
    or dtype, or is in the checkpoint but not in the graph. That last check applies only when
    restoring all variables (``var_list=None``) unless ``allow_extra`` says otherwise.

    >>> # restore_state(sess, "model.npz")   # the inverse of save_state
    """
    data = load_checkpoint(path)
    named = _named(session, var_list)
    problems = []
    for name, v in named.items():
        if name not in data:
            problems.append(f"  {name}: missing in checkpoint")
            continue
        arr = data[name]
        if tuple(arr.shape) != tuple(v.shape):
            problems.append(f"  {name}: shape differs: checkpoint {tuple(arr.shape)}, graph {tuple(v.shape)}")
        if arr.dtype != v.dtype.np:
            problems.append(f"  {name}: dtype differs: checkpoint {arr.dtype}, graph {v.dtype.name}")
    if not (var_list is not None if allow_extra is None else allow_extra):
        problems += [f"  {name}: in checkpoint but not in graph" for name in data if name not in named]
    if problems:
        raise CheckpointError(f"cannot restore {checkpoint_file(path)!r} into this graph:\n"
                              + "\n".join(problems))
    for name, v in named.items():
        _set_value(session, v, data[name])


def _set_value(session: Any, var: Any, value: np.ndarray) -> None:
    session.set_value(var, value)
    if value.ndim == 0 and session.get_value(var).ndim != 0:
        # Workaround: the core's convert_feed (np.ascontiguousarray) turns a 0-d value into
        # shape (1,); write the scalar buffer directly until that is fixed.
        session.state.write(var.op, value)


class Saver:
    """Saves and restores variables (TF1 ``tf.train.Saver``), keeping the last ``max_to_keep``.

    ``save(sess, "dir/model.ckpt", global_step=100)`` writes ``dir/model.ckpt-100.npz`` and
    returns the prefix ``"dir/model.ckpt-100"``, which ``restore`` and ``latest_checkpoint``
    accept, as in TF1. A ``checkpoint`` file in the directory lists the kept checkpoints.
    ``var_list=None`` saves the global variables that exist when ``save`` is called. As in TF1,
    ``restore`` ignores checkpoint entries the graph lacks (optimizer slots, say) but fails,
    naming them, on variables the checkpoint lacks or whose shape or dtype differ.

    >>> import os, tempfile, graphengine as ge
    >>> v = ge.Variable(1.0, name="v")
    >>> saver = Saver()
    >>> d = tempfile.mkdtemp()
    >>> with ge.Session() as s:
    ...     s.run(ge.global_variables_initializer())
    ...     p = saver.save(s, os.path.join(d, "model.ckpt"), global_step=1)
    ...     saver.restore(s, latest_checkpoint(d))
    >>> os.path.basename(p)
    'model.ckpt-1'
    """

    def __init__(self, var_list: Any = None, max_to_keep: int | None = 5, **_: Any) -> None:
        if isinstance(var_list, Iterable) and not isinstance(var_list, dict):
            var_list = list(var_list)
            if not var_list:
                raise ValueError("Saver: var_list is empty; no variables to save")
        self._var_list = var_list
        self.max_to_keep = max_to_keep
        self._kept: list[str] = []

    @property
    def last_checkpoints(self) -> list[str]:
        """The prefixes this Saver wrote and still keeps, oldest first."""
        return list(self._kept)

    def save(self, sess: Any, save_path: str, global_step: Any = None,
             write_state: bool = True, **_: Any) -> str:
        """Write a checkpoint; return its prefix (``save_path`` or ``save_path-<step>``).
        In a distributed job only rank 0 writes (and keeps the ``checkpoint`` file)."""
        prefix = os.fspath(save_path)
        if prefix.endswith(".npz"):
            prefix = prefix[:-4]
        if global_step is not None:
            step = global_step if isinstance(global_step, int | np.integer) else sess.run(global_step)
            prefix = f"{prefix}-{int(step)}"
        from .distributed._mpi import writes_files
        if not writes_files():
            return prefix
        save_state(sess, prefix, self._var_list)
        if prefix in self._kept:
            self._kept.remove(prefix)
        self._kept.append(prefix)
        old: list[str] = []
        if self.max_to_keep:
            while len(self._kept) > self.max_to_keep:
                old.append(self._kept.pop(0))
        # TF1's order: the state file names the new checkpoint before old ones go, so a crash
        # anywhere leaves latest_checkpoint() naming a complete checkpoint
        if write_state:
            _write_state_file(os.path.dirname(os.path.abspath(prefix)), self._kept)
        for p in old:
            with contextlib.suppress(FileNotFoundError):
                os.remove(checkpoint_file(p))
        return prefix

    def restore(self, sess: Any, save_path: str) -> None:
        """Restore the variables from the checkpoint ``save_path`` (a prefix or a .npz path)."""
        if save_path is None:
            raise ValueError("Saver.restore: save_path is None (did latest_checkpoint find nothing?)")
        restore_state(sess, save_path, self._var_list, allow_extra=True)


def _write_state_file(directory: str, prefixes: list[str]) -> None:
    rel = [os.path.relpath(os.path.abspath(p), directory) for p in prefixes]
    lines = [f"model_checkpoint_path: {json.dumps(rel[-1])}"]
    lines += [f"all_model_checkpoint_paths: {json.dumps(p)}" for p in rel]
    text = "\n".join(lines) + "\n"
    _atomic_write(os.path.join(directory, STATE_FILE), lambda f: f.write(text.encode()))


def latest_checkpoint(checkpoint_dir: str) -> str | None:
    """The prefix of the newest checkpoint a Saver wrote in ``checkpoint_dir``, or None.

    >>> latest_checkpoint("/nonexistent") is None
    True
    """
    try:
        with open(os.path.join(checkpoint_dir, STATE_FILE), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r'^model_checkpoint_path:\s*("(?:[^"\\]|\\.)*")', text, re.M)
    try:
        prefix = json.loads(m.group(1)) if m else None
    except ValueError:
        prefix = None
    if not isinstance(prefix, str) or not prefix:
        warnings.warn(f"{os.path.join(checkpoint_dir, STATE_FILE)!r} names no checkpoint (malformed)",
                      RuntimeWarning, stacklevel=2)
        return None
    prefix = prefix if os.path.isabs(prefix) else os.path.join(checkpoint_dir, prefix)
    return prefix if os.path.exists(checkpoint_file(prefix)) else None


__all__ = ["CheckpointError", "Saver", "checkpoint_file", "latest_checkpoint", "load_checkpoint",
           "restore_state", "save_state"]
