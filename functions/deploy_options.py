"""Deployment parameters of the functions, declared once per process.

firebase-functions keeps a process-wide registry of params and refuses a second declaration;
functions-framework (and its test client) may execute `main.py` more than once in a process, so the
params live in this module, which Python imports only once.
"""

from firebase_functions.params import SecretParam, StringParam

RECORDINGS_BUCKET = StringParam(
    "RECORDINGS_BUCKET", description="Cloud Storage bucket the recordings are uploaded to"
)
FUNCTIONS_REGION = StringParam(
    "FUNCTIONS_REGION", default="europe-west1", description="region of every function"
)
LINK_SECRET = SecretParam(
    "STETH_LINK_SECRET",
    description="key (32+ random characters) that signs the API's short-lived media links",
)
