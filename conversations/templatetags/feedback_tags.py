"""Answer feedback for other apps' admin pages: the usage dashboard shows it right under its token chart.

A template tag rather than an import, so the usage app (below conversations in the package stack) stays unaware of
conversations while staff see cost and answer quality per prompt revision side by side.
"""

from datetime import date

from django import template

from config.errors import ApplicationError
from conversations.selectors import feedback_report

register = template.Library()


@register.inclusion_tag("admin/conversations/feedback_summary.html")
def feedback_summary(start: date, end: date) -> dict:
    try:
        report = feedback_report(engine_type=None, start=start, end=end)
    except ApplicationError as exc:  # a range the feedback report refuses: say so instead of breaking the page
        return {"error": exc.message, "start": start, "end": end}
    return {"report": report, "start": start, "end": end}
