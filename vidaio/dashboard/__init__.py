"""`vidaio dashboard`: a read-only web console over a validator's SQLite database.

`config` (settings), `data` (read-only queries, never a write, never the write lock), `views`
(columns and formatting shared by the Jinja2 pages and the JSON API), `app` (FastAPI: pages,
`/api/*`, bearer-token check), `assets` (the chart library vendored from npm at setup time).
"""
