"""What the Map tab shows, as data and chart specs: a run's faces placed by how its model sees
them (``fer_core.runs.features``), coloured by a choice, with a brushed region and a clicked
face read back from the chart's selection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

MAP_SPLITS = {"test": "Test", "val": "Validation", "train": "Training"}
COLOURINGS = {"true": "True class", "pred": "Predicted class", "outcome": "Right or wrong",
              "confidence": "Confidence", "suspect": "Suspect score"}
BRUSH, PICK = "region", "face"  # the chart's two selections: a dragged box, a clicked face
MOST_POINTS = 5_000  # drawn at most (a seeded sample beyond); selections use every face
EXPORT_COLUMNS = ["id", "split", "true", "pred", "confidence", "correct", "excluded", "mark",
                  "x", "y"]
Region = tuple[float, float, float, float]  # x0, x1, y0, y1


def colourings(has_suspects: bool) -> list[str]:
    """The colourings on offer: the suspect score only when a suspect-labels pass exists."""
    return [key for key in COLOURINGS if key != "suspect" or has_suspects]


MARKS = {"copy": "copy across train and test", "duplicate": "duplicate"}


def audit_marks(exact_groups: Sequence[Sequence[str]],
                near_pairs: Sequence[Sequence[Any]],
                leakage_pairs: Sequence[Sequence[str]]) -> dict[str, str]:
    """Face id -> what the data audit found: ``copy`` (a train or validation face with an
    exact or near copy in test, either side) before ``duplicate`` (any other exact or near
    duplicate)."""
    marks = {face: "duplicate" for group in exact_groups for face in group}
    marks.update({str(face): "duplicate" for pair in near_pairs for face in pair[:2]})
    marks.update({str(face): "copy" for pair in leakage_pairs for face in pair[:2]})
    return marks


def points(table: pd.DataFrame, split: str, suspects: pd.DataFrame | None = None,
           marks: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The faces of one split with what the colourings need: ``outcome`` and, from a suspects
    pass (``file``, ``self_confidence``), ``suspect`` (1 - the given label's held-out
    probability; 0 where the pass did not flag the face); ``mark``: what the data audit found
    (``marks``, from :func:`audit_marks`), else empty."""
    rows = table[table["split"] == split].copy()
    found = dict(marks or {})
    rows["mark"] = [MARKS.get(found.get(face, ""), "") for face in rows["id"]]
    rows["outcome"] = rows["correct"].map({True: "right", False: "wrong"})
    rows["suspect"] = 0.0
    if suspects is not None and len(suspects):
        score = 1.0 - suspects.set_index("file")["self_confidence"].astype(float)
        rows["suspect"] = rows["id"].map(score).fillna(0.0).round(3)
    return rows.reset_index(drop=True)


def drawn(rows: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """What the chart draws: every face, or a seeded sample of :data:`MOST_POINTS` (the
    training split of FER-2013 has 28,709), so the browser stays quick."""
    if len(rows) <= MOST_POINTS:
        return rows
    return rows.sample(MOST_POINTS, random_state=seed).sort_index()


def _encoding(colour: str, classes: Sequence[str]) -> alt.Color:
    title = COLOURINGS[colour]
    if colour in ("true", "pred"):
        return alt.Color(f"{colour}:N", title=title, scale=alt.Scale(domain=list(classes),
                                                                      scheme="tableau10"))
    if colour == "outcome":
        return alt.Color("outcome:N", title=title,
                         scale=alt.Scale(domain=["right", "wrong"], range=["#4c9a2a", "#d62728"]))
    scheme = "viridis" if colour == "confidence" else "orangered"
    return alt.Color(f"{colour}:Q", title=title, scale=alt.Scale(scheme=scheme))


def map_chart(rows: pd.DataFrame, colour: str, classes: Sequence[str], *,
              region: Region | None = None) -> alt.Chart | alt.LayerChart:
    """The scatter, with a box to drag (its value ``region`` when a link gave one) and a face
    to click; the tooltip names the face, the picture shows below on a click."""
    brush = alt.selection_interval(name=BRUSH, encodings=["x", "y"], value=(
        {"x": list(region[:2]), "y": list(region[2:])} if region else None))
    pick = alt.selection_point(name=PICK, fields=["id"], on="click", clear="dblclick")
    columns = ["id", "x", "y", "true", "pred", "confidence", "outcome", "suspect", "mark"]
    base = alt.Chart(rows[[c for c in columns if c in rows.columns]])
    x, y = alt.X("x:Q", axis=None), alt.Y("y:Q", axis=None)
    tooltip = [alt.Tooltip("id:N", title="Face"), alt.Tooltip("true:N", title="True class"),
               alt.Tooltip("pred:N", title="Predicted"),
               alt.Tooltip("confidence:Q", title="Confidence", format=".0%")]
    faces = base.mark_circle(size=18, opacity=0.75).encode(
        x=x, y=y, color=_encoding(colour, classes),
        size=alt.condition(pick, alt.value(120), alt.value(18)), tooltip=tooltip,
    ).add_params(brush, pick)
    chart = faces
    if "mark" in rows.columns and rows["mark"].astype(bool).any():
        marked = base.transform_filter(alt.datum.mark != "").mark_point(
            size=70, filled=False, strokeWidth=1.5).encode(
            x=x, y=y, shape=alt.Shape("mark:N", title="Data audit"),
            stroke=alt.value("#222222"), tooltip=[*tooltip, alt.Tooltip("mark:N", title="Audit")])
        chart = alt.layer(faces, marked)
    return chart.properties(height=480, usermeta={"fer_chart": "feature_map"})


def selected_region(selection: Mapping[str, Any] | None) -> Region | None:
    """The dragged box from ``st.altair_chart``'s selection state, or ``None``."""
    box = ((selection or {}).get("selection") or {}).get(BRUSH) or {}
    xs, ys = box.get("x"), box.get("y")
    if not xs or not ys:
        return None
    return (float(min(xs)), float(max(xs)), float(min(ys)), float(max(ys)))


def picked_face(selection: Mapping[str, Any] | None) -> str | None:
    """The clicked face's id, or ``None``."""
    picked = ((selection or {}).get("selection") or {}).get(PICK) or []
    return str(picked[0]["id"]) if picked and "id" in picked[0] else None


def in_region(rows: pd.DataFrame, region: Region | None) -> pd.DataFrame:
    """Every face of ``rows`` inside ``region`` (drawn or not), least confident first: the
    faces a brushed cluster holds that most need a look."""
    if region is None:
        return rows.iloc[0:0]
    x0, x1, y0, y1 = region
    inside = rows["x"].between(x0, x1) & rows["y"].between(y0, y1)
    return rows[inside].sort_values(["confidence", "id"], kind="stable")


def region_text(region: Region | None) -> str | None:
    """A region as a link carries it: four numbers, comma-separated."""
    return None if region is None else ",".join(f"{v:.7g}" for v in region)


def parse_region(text: str | None) -> Region | None:
    try:
        values = [float(v) for v in str(text or "").split(",")]
    except ValueError:
        return None
    if len(values) != 4 or values[0] > values[1] or values[2] > values[3]:
        return None
    return (values[0], values[1], values[2], values[3])


def export_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The brushed faces as the CSV download holds them."""
    return rows[[c for c in EXPORT_COLUMNS if c in rows.columns]]


def about_text(meta: Mapping[str, Any]) -> str:
    """How the map was made, in a sentence or two, from ``features.json``."""
    faces = meta.get("faces") or {}
    seconds = meta.get("seconds") or {}
    kept = meta.get("kept_dimensions") or meta.get("dimensions")
    whole = kept == meta.get("dimensions")
    return (f"{sum(faces.values()):,} faces, each seen as the {meta.get('dimensions')} numbers "
            "the model's final Dense layer reads"
            + ("" if whole else f" (kept as their top {kept} principal components, "
               f"{float(meta.get('variance_kept', 1)):.1%} of their variance)")
            + f"; placed in 2-D by UMAP after PCA to {meta.get('pca_dimensions')}, fitted on the "
            f"training faces with seed {meta.get('seed')}, the other splits placed on the same "
            f"map. Made {str(meta.get('made', ''))[:16].replace('T', ' ')} in "
            f"{float(seconds.get('features', 0)) + float(seconds.get('map', 0)):.0f} s. Nearest "
            "faces are compared by direction (cosine), so 0 is the same face and 2 the "
            "opposite.")
