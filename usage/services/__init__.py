"""Writes of the usage app: quota reservations, their settlement or release, and plans.

Callers import from here; the modules are ``reservations`` (claiming, and expiring stale claims), ``settlements``
(recording a call's usage, or giving the reservation back) and ``plans`` (the plan cache and plan changes).
"""

from usage.services.plans import plan_set
from usage.services.reservations import (
    QuotaClaim,
    Reservation,
    ReservationRelease,
    quota_busy,
    quota_reserve,
    reservations_expire_stale,
)
from usage.services.settlements import (
    ReservationSettlement,
    UsageCharge,
    quota_release,
    usage_record,
    usage_settlement_build,
)

__all__ = [
    "QuotaClaim",
    "Reservation",
    "ReservationRelease",
    "ReservationSettlement",
    "UsageCharge",
    "plan_set",
    "quota_busy",
    "quota_release",
    "quota_reserve",
    "reservations_expire_stale",
    "usage_record",
    "usage_settlement_build",
]
