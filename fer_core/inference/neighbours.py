"""Nearest examples: the training faces closest to a face in the model's feature space.

An explanation by example beside Grad-CAM's explanation by pixels: a "fear" that rests on five
training faces labelled fear reads differently from one whose neighbours are labelled sad.
Features are compared by direction (L2-normalised, then Euclidean: 0 for the same direction, 2
for opposite ones), the usual measure for a network's penultimate layer, whose lengths grow
with confidence rather than with likeness. scikit-learn's exact search: 28,709 training faces
by 256 numbers is milliseconds a query, so no approximate index is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core.core.errors import RunError
from fer_core.inference.features import Projection, compute
from fer_core.runs import features as store

DEFAULT_K = 5
COLUMNS = ["query", "rank", "id", "label", "distance", "excluded"]


def normalise(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


def missing_message(run_dir: Path) -> str:
    return (f"Run {Path(run_dir).name} has no features yet: compute them first (Results > Map, "
            f"or `python -m fer_core features {Path(run_dir).name}`).")


@dataclass(frozen=True)
class TrainingFaces:
    """A run's training faces, ready to be searched: ids, labels as they are now (the data
    set's label overrides applied), the fitted index, and the projection new faces go through."""

    run_dir: Path
    ids: np.ndarray
    labels: np.ndarray
    excluded: np.ndarray
    index: Any  # sklearn.neighbors.NearestNeighbors on the normalised features
    projection: Projection | None

    @classmethod
    def of_run(cls, run_dir: Path) -> TrainingFaces:
        from sklearn.neighbors import NearestNeighbors

        run_dir = Path(run_dir)
        found = store.read_features(run_dir, "train")
        table = store.map_frame(run_dir)
        if found is None or table is None:
            raise RunError(missing_message(run_dir))
        ids, features = found
        train = table[table["split"] == "train"].set_index("id").reindex(ids)
        index = NearestNeighbors().fit(normalise(features))
        stored = store.read_projection(run_dir)
        projection = Projection(stored[0], stored[1], float("nan")) if stored else None
        return cls(run_dir, ids, train["true"].to_numpy(dtype=object),
                   train["excluded"].fillna(False).to_numpy(dtype=bool), index, projection)

    def kept(self, features: np.ndarray) -> np.ndarray:
        """Features straight from the model, as the kept ones were stored."""
        return self.projection(features) if self.projection is not None else features

    def nearest(self, features: np.ndarray, k: int = DEFAULT_K, *,
                queries: list[str] | None = None) -> pd.DataFrame:
        """The ``k`` nearest training faces of each row of (kept) ``features``: one row per
        (query, neighbour), nearest first; ``queries`` names the rows (default 0, 1, ...)."""
        if k < 1:
            raise ValueError(f"k must be at least 1; got {k}.")
        k = min(k, len(self.ids))
        if len(features) == 0:
            return pd.DataFrame(columns=COLUMNS)
        distances, rows = self.index.kneighbors(normalise(np.asarray(features, np.float32)),
                                                n_neighbors=k)
        names = queries if queries is not None else [str(i) for i in range(len(features))]
        return pd.DataFrame({
            "query": np.repeat(np.asarray(names, dtype=object), k),
            "rank": np.tile(np.arange(1, k + 1), len(features)),
            "id": self.ids[rows.ravel()], "label": self.labels[rows.ravel()],
            "distance": distances.ravel().round(4), "excluded": self.excluded[rows.ravel()]})

    def nearest_to_faces(self, face_ids: list[str], k: int = DEFAULT_K) -> pd.DataFrame:
        """Neighbours of faces of the data set (any split), by id, from their stored features;
        ids without features are left out."""
        wanted = set(face_ids)
        found_ids, found = [], []
        for split in ("train", "val", "test"):
            stored = store.read_features(self.run_dir, split)
            if stored is None:
                continue
            ids, features = stored
            rows = np.flatnonzero(np.isin(ids, list(wanted)))
            found_ids += list(ids[rows])
            found.append(features[rows])
        if not found_ids:
            return pd.DataFrame(columns=COLUMNS)
        return self.nearest(np.concatenate(found), k, queries=found_ids)

    def nearest_to_images(self, model: Any, images: np.ndarray, k: int = DEFAULT_K
                          ) -> pd.DataFrame:
        """Neighbours of new (N, 48, 48) uint8 faces, through the run's ``model``."""
        features, _ = compute(model, images)
        return self.nearest(self.kept(features), k)

    def vote(self, neighbours: pd.DataFrame) -> pd.DataFrame:
        """Per query: the label most of its neighbours carry, and the share that carry it."""
        counts = neighbours.groupby(["query", "label"], sort=False).size().rename("n")
        counts = counts.reset_index().sort_values(["query", "n"], ascending=[True, False],
                                                  kind="stable")
        top = counts.drop_duplicates("query").set_index("query")
        total = neighbours.groupby("query").size()
        return pd.DataFrame({"label": top["label"], "share": top["n"] / total.reindex(top.index)})


def label_shares(pool: np.ndarray, pool_labels: np.ndarray, queries: np.ndarray, *,
                 classes: int, k: int = 10) -> np.ndarray:
    """For each query, the share of each class among the labels of its ``k`` nearest ``pool``
    faces (features compared by direction): a vote of the faces the model sees as alike, the
    neighbour evidence FiftyOne calls mistakenness and cleanlab's Datalab computes from
    features. (N, classes) float32, rows summing to 1."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(pool))
    index = NearestNeighbors(n_neighbors=k).fit(normalise(np.asarray(pool, np.float32)))
    _, rows = index.kneighbors(normalise(np.asarray(queries, np.float32)))
    votes = np.asarray(pool_labels)[rows]  # (N, k)
    shares = np.stack([(votes == c).mean(axis=1) for c in range(classes)], axis=1)
    return shares.astype(np.float32)


def knn_accuracy(faces: TrainingFaces, split: str = "test", k: int = DEFAULT_K
                 ) -> tuple[float, pd.DataFrame]:
    """How well the feature space agrees with the labels: the share of ``split``'s faces whose
    neighbours' majority label is their own, and the same per class (with how often the model
    itself is right there), from the map's labels as they are now."""
    table = store.map_frame(faces.run_dir)
    stored = store.read_features(faces.run_dir, split)
    if table is None or stored is None:
        raise RunError(missing_message(faces.run_dir))
    ids, features = stored
    votes = faces.vote(faces.nearest(features, k, queries=list(ids)))
    rows = table[table["split"] == split].set_index("id").reindex(ids)
    agree = votes["label"].reindex(ids).to_numpy() == rows["true"].to_numpy()
    per_class = pd.DataFrame({"class": rows["true"].to_numpy(), "knn": agree,
                              "model": rows["correct"].to_numpy(dtype=bool)})
    per_class = per_class.groupby("class").agg(faces=("knn", "size"), knn_accuracy=("knn", "mean"),
                                               model_accuracy=("model", "mean"))
    return float(agree.mean()), per_class.sort_values("knn_accuracy")
