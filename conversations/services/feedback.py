"""👍/👎 feedback on assistant messages: one item per rated message (``Feedback``), written without touching the
conversation or the message, so rating never races a running turn."""

from django.utils.translation import gettext_lazy as _

from config.clock import utcnow
from config.errors import ValidationFailed
from conversations.ids import message_key
from conversations.models import Feedback
from conversations.selectors import message_get

FEEDBACK_RATINGS = ("up", "down")
FEEDBACK_COMMENT_MAX_CHARS = 2000


def feedback_set(
    *, user_id: str, conversation_id: str, message_id: str, rating: str | None, comment: str | None = None
) -> Feedback | None:
    """Rate one of the owner's assistant messages (``rating`` None clears it); the stored feedback, or None.

    The feedback copies the message's engine type, prompt revision and model for the staff report, and its
    expiry, so it is deleted with the message it rates.
    """
    if rating is not None and rating not in FEEDBACK_RATINGS:
        raise ValidationFailed(
            _("The rating must be up, down or null."), code="invalid", fields={"rating": ["up|down"]}
        )
    if comment is not None and len(comment) > FEEDBACK_COMMENT_MAX_CHARS:
        raise ValidationFailed(
            _("The comment may hold at most %(n)d characters.") % {"n": FEEDBACK_COMMENT_MAX_CHARS},
            code="invalid",
            fields={"comment": ["too long"]},  # the API's serializer words it; this guards other callers
        )
    message = message_get(user_id=user_id, conversation_id=conversation_id, message_id=message_id)
    if message.role != "assistant":
        raise ValidationFailed(_("Only answers can be rated."), code="feedback_not_allowed")
    key = message_key(user_id, conversation_id)
    if rating is None:
        Feedback(key, message_id).delete()
        return None
    now = utcnow()
    feedback = Feedback(
        key,
        message_id,
        user_id=user_id,
        conversation_id=conversation_id,
        rating=rating,
        comment=comment or None,
        engine_type=message.engine_type or "unknown",
        prompt_revision=message.prompt_revision,
        model_id=message.model_id,
        rated_at=now,
        rated_month=now.strftime("%Y-%m"),
        expires_at=message.expires_at,
    )
    feedback.save()  # a PutItem: a new rating replaces the previous one, which the report then no longer counts
    return feedback
