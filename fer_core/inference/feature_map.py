"""A 2-D map of the features: PCA to about 50 dimensions, then UMAP (McInnes et al. 2018).

UMAP is fitted on the training faces and the other splits are placed on that same map
(``transform``), so a test face lands among the training faces the model takes it for. PCA
first is UMAP's own advice for wide inputs: it removes noise and makes the neighbour graph
several times faster to build. With ``random_state`` the map is the same for the same run
(UMAP then runs on one thread, which is also what a light task is given).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from fer_core.core import settings

PCA_DIMENSIONS = 50
NEIGHBOURS = 15  # UMAP's default: the size of the neighbourhood whose structure is kept
MIN_DISTANCE = 0.1  # UMAP's default: how tightly faces may pack


def _numba_cache() -> None:
    """UMAP compiles its functions with numba on first use (tens of seconds on 2 cores);
    numba keeps the machine code where ``NUMBA_CACHE_DIR`` points, so later maps start at
    once. It is read when numba is first imported, so this runs before umap is."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(settings.cache_dir() / "numba"))


def layout(train: np.ndarray, others: Mapping[str, np.ndarray], *, seed: int = 0
           ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """2-D places of the ``train`` features and of each split in ``others`` on the same map."""
    from sklearn.decomposition import PCA

    _numba_cache()
    import umap

    train = np.asarray(train, dtype=np.float32)
    if len(train) < 4:
        raise ValueError(f"A map needs at least 4 training faces; got {len(train)}.")
    dimensions = min(PCA_DIMENSIONS, train.shape[1], len(train))
    pca = PCA(n_components=dimensions, random_state=seed).fit(train)
    reducer = umap.UMAP(n_neighbors=min(NEIGHBOURS, len(train) - 1), min_dist=MIN_DISTANCE,
                        n_components=2, random_state=seed, n_jobs=1, init="spectral"
                        if len(train) > 2 * NEIGHBOURS else "random")
    placed = reducer.fit_transform(pca.transform(train)).astype(np.float32)
    rest = {name: (reducer.transform(pca.transform(np.asarray(values, dtype=np.float32)))
                   .astype(np.float32) if len(values) else np.zeros((0, 2), np.float32))
            for name, values in others.items()}
    return placed, rest
