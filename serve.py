"""FER Studio's web server: the app in ``app.py``, behind one rule Streamlit has no setting for.

    streamlit run serve.py        (or: make run)

Streamlit answers every unknown address with its page, whose scripts are linked relative to the
address: below ``/train/extra`` they resolve to ``/train/static/...``, which is the page again, so
the browser draws nothing. An address that names no page is sent to the start page instead, which
says what was asked for. (``streamlit run app.py`` runs the same app without this rule.)
"""

from urllib.parse import urlencode

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from views.links import UNKNOWN_PAGE

PAGES = ("", "explore", "train", "results", "predict")  # app.py's navigation, by address
STREAMLIT_ROUTES = ("_stcore", "static", "media", "component", "app", "favicon.png", "~")


class UnknownPages:
    """Redirect a browser asking for a page that does not exist to the start page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and \
                b"text/html" in dict(scope["headers"]).get(b"accept", b""):  # a page, not a fetch
            base = st.get_option("server.baseUrlPath").strip("/")  # "" unless set
            path = scope["path"].strip("/").removeprefix(base).strip("/")
            if path not in PAGES and path.split("/")[0] not in STREAMLIT_ROUTES:
                start = f"/{base}/" if base else "/"
                await RedirectResponse(f"{start}?{urlencode({UNKNOWN_PAGE: path})}")(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


app = st.App("app.py", middleware=[Middleware(UnknownPages)])
