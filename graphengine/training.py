"""``fit``: the mini-batch training loop, with a tqdm progress bar showing the running loss.

>>> import numpy as np, graphengine as ge
>>> from graphengine.training import fit, batch_feeds
>>> x = ge.placeholder(ge.float32, (None, 1)); y = ge.placeholder(ge.float32, (None, 1))
>>> w = ge.Variable(np.zeros((1, 1), np.float32))
>>> loss = ge.reduce_mean(ge.square(x @ w - y))
>>> train = ge.train.GradientDescentOptimizer(0.1).minimize(loss)
>>> data = np.ones((8, 1), np.float32)
>>> with ge.Session() as s:
...     s.run(ge.global_variables_initializer())
...     h = fit(s, train, loss, batch_feeds(x, y, data, 2 * data, batch_size=4, seed=0),
...             epochs=5, progress=False)
>>> len(h.steps), h.epochs[-1] < h.epochs[0]
(10, True)
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .datasets import batches, num_batches


@dataclass
class History:
    """Losses recorded by ``fit``: one per step and the mean of each epoch."""

    steps: list[float] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)


Feeds = Callable[[int], Iterable[dict]] | Iterable[dict] | dict


def batch_feeds(x_ph: Any, y_ph: Any, x: Any, y: Any = None, batch_size: int = 32, *,
                shuffle: bool = True, seed: int | None = None, drop_last: bool = False,
                extra: dict | None = None, shard: tuple[int, int] | None = None) -> Callable[[int], Iterable[dict]]:
    """Feeds for ``fit``: a function ``epoch -> iterator of feed_dicts`` over mini-batches.

    One seeded generator drives every epoch's shuffle, so epochs differ but runs repeat.
    ``extra`` is merged into each feed (say ``{keep_prob: 0.5}``). ``shard=(rank, size)``
    gives this rank its share of every epoch (``datasets.batches``; same ``seed`` on all ranks).

    >>> import numpy as np, graphengine as ge
    >>> xp = ge.placeholder(ge.float32, (None, 2))
    >>> feeds = batch_feeds(xp, None, np.zeros((5, 2)), batch_size=2)
    >>> [f[xp].shape[0] for f in feeds(0)]
    [2, 2, 1]
    """
    rng = np.random.default_rng(seed)
    n = len(x)

    def per_epoch(epoch: int) -> Iterable[dict]:
        for b in batches(x, y, batch_size, shuffle=shuffle, seed=rng, drop_last=drop_last, shard=shard):
            feed = {x_ph: b} if y is None else {x_ph: b[0], y_ph: b[1]}
            if extra:
                feed.update(extra)
            yield feed

    rows = n if shard is None else n // int(shard[1])
    per_epoch.num_batches = num_batches(rows, batch_size, drop_last)  # type: ignore[attr-defined]
    return per_epoch


def fit(session: Any, train_op: Any, loss: Any, feeds: Feeds, epochs: int = 1, *,
        progress: bool = True, desc: str = "train", stop_on_nan: bool = True,
        callback: Callable[[int, float], Any] | None = None) -> History:
    """Run ``train_op`` over ``feeds`` for ``epochs`` epochs, recording ``loss`` at every step.

    ``feeds`` is a function ``epoch -> iterable of feed_dicts`` (see ``batch_feeds``), a list of
    feed_dicts reused every epoch, or one feed_dict (full-batch: one step per epoch). The tqdm
    bar shows the epoch's running mean loss; ``progress=False`` hides it. A NaN or infinite loss
    stops training with ``FloatingPointError`` naming the step (``stop_on_nan=False`` keeps going).
    ``callback(epoch, epoch_mean_loss)`` runs after each epoch; returning True stops early.
    Returns a ``History`` (per-step and per-epoch losses).
    """
    from tqdm.auto import tqdm

    if isinstance(feeds, dict):
        single = feeds
        feeds = lambda epoch: [single]
    elif not callable(feeds):
        fixed = list(feeds)
        feeds = lambda epoch: fixed
    per_epoch = getattr(feeds, "num_batches", None)
    total = per_epoch * epochs if per_epoch is not None else None
    history = History()
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=True, dynamic_ncols=True)
    try:
        for epoch in range(epochs):
            running, n = 0.0, 0
            for feed in feeds(epoch):
                _, value = session.run([train_op, loss], feed_dict=feed)
                value = float(value)
                if stop_on_nan and not math.isfinite(value):
                    raise FloatingPointError(f"fit: loss is {value} at epoch {epoch}, step "
                                             f"{len(history.steps)}; lower the learning rate or "
                                             "run the Session with debug_numerics=True")
                history.steps.append(value)
                running += value
                n += 1
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{running / n:.4g}", refresh=False)
            if n == 0:
                raise ValueError(f"fit: epoch {epoch} produced no feeds")
            history.epochs.append(running / n)
            if callback is not None and callback(epoch, history.epochs[-1]):
                break
    finally:
        bar.close()
    return history


__all__ = ["History", "batch_feeds", "fit"]
