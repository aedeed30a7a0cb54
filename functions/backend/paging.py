"""Keyset paging over Firestore queries: a page starts after the last document of the one
before, named by its id, so pages stay stable while documents are added (no offsets)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud.firestore import CollectionReference


class PageStartGoneError(LookupError):
    """The document a page was to start after does not exist (deleted meanwhile, or a made-up
    id): the API answers 422 `invalid_page_token` ("start again")."""


def start_after(query: Any, collection: CollectionReference, after: str | None) -> Any:
    """`query` from just after the document `after` of `collection` (as the query orders it),
    or from the start when `after` is None. `after` must already have passed the id rule."""
    if after is None:
        return query
    last = collection.document(after).get()
    if not last.exists:
        raise PageStartGoneError(after)
    return query.start_after(last)
