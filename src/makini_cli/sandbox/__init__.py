"""The bundled Makini-compatible sandbox server.

Import-light on purpose: the CLI imports this package on paths that must stay fast.
FastAPI and uvicorn load only with `makini_cli.sandbox.app` / `.server`.
"""
