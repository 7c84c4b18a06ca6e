"""Deep links to a Results view: ``?runs=ID&runs=ID&tab=Errors&split=val`` opens those runs,
that tab and split; the Map tab's link also keeps its faces, colouring and dragged box
(``&faces=train&colour=outcome&region=x0,x1,y0,y1``). Run ids go into the URL, not the
picker's labels, whose state and score
change. Values that no longer match (a run deleted, a tab renamed) are left out, not failed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from views import feature_map

TABS = ("Learning curves", "Comparison", "Errors", "Calibration", "Gallery", "Map", "Seed report",
        "Share", "Export", "Search")
SPLITS = ("test", "val")
MAP_PARAMS = ("faces", "colour", "region")  # the Map tab's own, kept only when it is open
PARAMS = ("runs", "tab", "split", *MAP_PARAMS)  # the view's; others (the data choice) may be too
SPELLINGS = {"runs": ("runs", "run")}  # ?run=ID, as people guess it, means ?runs=ID
UNKNOWN_PAGE = "unknown_page"  # where serve.py sends an address that names no page


@dataclass(frozen=True)
class LinkView:
    """What a link asks for, checked against what exists; ``unknown_runs`` it cannot show."""

    runs: list[str] = field(default_factory=list)
    tab: str | None = None
    split: str | None = None
    unknown_runs: list[str] = field(default_factory=list)
    map_view: dict[str, str] = field(default_factory=dict)  # MAP_PARAMS that are valid


def parse_link(get_all: Callable[[str], Sequence[str]], known_runs: Iterable[str]) -> LinkView:
    """Read a link through ``get_all(name)`` (``st.query_params.get_all``); runs not in
    ``known_runs`` are reported apart, an unknown tab or split is ignored."""
    known = set(known_runs)
    asked = list(dict.fromkeys(run for name in SPELLINGS["runs"] for value in get_all(name)
                               for run in value.split(",") if run))
    tab = next((t for t in get_all("tab") if t in TABS), None)
    split = next((s for s in get_all("split") if s in SPLITS), None)
    return LinkView(runs=[r for r in asked if r in known], tab=tab, split=split,
                    unknown_runs=[r for r in asked if r not in known],
                    map_view=valid_map_view({name: next(iter(get_all(name)), "")
                                             for name in MAP_PARAMS}))


def valid_map_view(asked: dict[str, str | None]) -> dict[str, str]:
    """The Map tab's parameters that name a split, colouring and box it can show."""
    checks = {"faces": lambda v: v in feature_map.MAP_SPLITS,
              "colour": lambda v: v in feature_map.COLOURINGS,
              "region": lambda v: feature_map.parse_region(v) is not None}
    return {name: str(value) for name, value in asked.items()
            if name in checks and value and checks[name](value)}


def link_params(runs: Sequence[str], *, tab: str | None = None, split: str | None = None,
                map_view: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The query parameters of a view, in a stable order; ``map_view`` only on the Map tab."""
    pairs = [("runs", run) for run in runs]
    if tab in TABS:
        pairs.append(("tab", tab))
    if split in SPLITS:
        pairs.append(("split", split))
    if tab == "Map":
        pairs += [(name, value) for name, value in valid_map_view(map_view or {}).items()]
    return pairs


def is_default_view(runs: Sequence[str], *, tab: str | None, split: str | None,
                    default_runs: Sequence[str]) -> bool:
    """Whether the view is what Results shows unasked: the default runs, the first tab, the
    test split (or none)."""
    return (list(runs) == list(default_runs) and tab in (None, TABS[0])
            and split in (None, SPLITS[0]))


def link_url(base: str | None, params: Sequence[tuple[str, str]]) -> str:
    """``base`` (the page's address) with ``params``; a relative link when the address is not
    known (outside a browser session)."""
    query = urlencode(params)
    return f"{base or ''}?{query}" if query else (base or "")
