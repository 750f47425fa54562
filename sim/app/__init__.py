"""The workshop app: two runs side by side in the browser, served offline by Solara.

``session.py`` holds the app's logic (pairs of models, lockstep stepping, levers,
figures, export) and knows nothing of Solara; ``page.py`` is a thin layer of Solara
components over it; ``server.py`` serves the page offline; ``assets.py`` describes the
front-end files shipped in ``cdn/``.
"""
