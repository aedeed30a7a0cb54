"""The HTTPS API (FastAPI), served by the `api` function and, locally, by functions-framework."""
