"""The contract the edge uploader and the API share, typed once: the id rule and the upload-slot
request. Pydantic and `stethoscope.sites` only — no cloud imports — so the laptop CLI can build
and check a request with the very model the API validates it with.

`backend.documents` and `backend.api.schemas` re-export what they used to define.
"""

from steth_contract.ids import DocumentId, is_valid_id, valid_id
from steth_contract.upload import AudioFormat, UploadSlotRequest, WireModel

__all__ = [
    "AudioFormat",
    "DocumentId",
    "UploadSlotRequest",
    "WireModel",
    "is_valid_id",
    "valid_id",
]
