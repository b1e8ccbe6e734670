"""The project's one clock seam: every module asks ``utcnow()``; tests freeze time with time-machine."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime, *, timespec: str = "seconds") -> str:
    """``moment`` in UTC as ISO 8601 with a ``Z`` suffix (``timespec="auto"`` keeps microseconds when present)."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
