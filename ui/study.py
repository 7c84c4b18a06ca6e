"""Train's **Study** launcher: one click queues every run a seed-report question needs."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from fer_core.core.config import TrainConfig
from fer_core.core.errors import FerError
from fer_core.tasks import studies
from ui import state


def render_study(preset_name: str, config: TrainConfig | None,
                 with_data: Callable[[TrainConfig], TrainConfig]) -> None:
    """Pick a study, see its arms, launch them all; they run as one group like a sweep."""
    with st.expander("Study: the seed report's questions, one click each"):
        st.caption("Every arm is the form above with a few settings changed, so shorten the "
                   "epochs there for a quick answer. Results shows the group together, and its "
                   "Seed report tab answers the question.")
        name = st.selectbox("Study", list(studies.STUDIES), key="train.study",
                            format_func=lambda n: f"{n}: {studies.STUDIES[n].question}")
        study = studies.get_study(name)
        st.table([{"Run": arm.label,
                   "Changes": ", ".join(f"{k} = {v}" for k, v in arm.fields.items())}
                  for arm in study.arms])
        if st.button(f"Launch study ({len(study.arms)} jobs)", key="train.launch_study",
                     disabled=config is None):
            try:
                run_dirs = studies.launch_study(name, with_data(config), preset=preset_name,
                                                runs_root=state.runs_root(),
                                                backend=state.jobs_backend())
            except FerError as err:
                st.error(str(err))
            else:
                st.success(f"Queued {len(run_dirs)} jobs as study **{name}**.")
