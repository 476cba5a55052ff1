"""Chainlit's rating endpoints (PUT/DELETE /feedback) don't check that the rated message
belongs to the caller; these wrappers do, then call Chainlit's own handlers."""

# No `from __future__ import annotations`: FastAPI reads the annotations at run time.
from typing import Annotated, Any

from chainlit.auth import get_current_user
from chainlit.data import get_data_layer
from chainlit.types import DeleteFeedbackRequest, UpdateFeedbackRequest
from fastapi import Depends, HTTPException, Request

_STEP_OWNER = """
SELECT t."userId" AS owner FROM steps s JOIN threads t ON t."id" = s."threadId"
WHERE s."id" = :id
"""
_FEEDBACK_OWNER = """
SELECT t."userId" AS owner FROM feedbacks f JOIN steps s ON s."id" = f."forId"
JOIN threads t ON t."id" = s."threadId" WHERE f."id" = :id
"""

User = Annotated[Any, Depends(get_current_user)]


async def _owner(query: str, row_id: str | None) -> str | None:
    if not row_id:
        return None
    rows = await get_data_layer().execute_sql(query, {"id": row_id})
    return rows[0]["owner"] if isinstance(rows, list) and rows else None


def _refuse() -> HTTPException:
    return HTTPException(status_code=404, detail="Not found")


async def _rate(request: Request, update: UpdateFeedbackRequest, current_user: User) -> Any:
    from chainlit.server import update_feedback

    user_id = getattr(current_user, "id", None)
    if not user_id or await _owner(_STEP_OWNER, update.feedback.forId) != user_id:
        raise _refuse()
    if update.feedback.id and await _owner(_FEEDBACK_OWNER, update.feedback.id) not in (
        None,
        user_id,
    ):
        raise _refuse()
    return await update_feedback(request, update, current_user)


async def _unrate(request: Request, payload: DeleteFeedbackRequest, current_user: User) -> Any:
    from chainlit.server import delete_feedback

    user_id = getattr(current_user, "id", None)
    if not user_id or await _owner(_FEEDBACK_OWNER, payload.feedbackId) != user_id:
        raise _refuse()
    return await delete_feedback(request, payload, current_user)


def install_feedback_guard() -> None:
    from chainlit.config import config
    from chainlit.server import app

    if any(getattr(r, "endpoint", None) is _rate for r in app.router.routes):
        return
    # Chainlit mounts its routes under --root-path; ours must shadow them there too.
    path = (config.run.root_path or "").rstrip("/") + "/feedback"
    app.add_api_route(path, _rate, methods=["PUT"])
    app.add_api_route(path, _unrate, methods=["DELETE"])
    # Ahead of Chainlit's own /feedback routes, which would otherwise match first.
    moved = [app.router.routes.pop(), app.router.routes.pop()]
    app.router.routes[:0] = moved
