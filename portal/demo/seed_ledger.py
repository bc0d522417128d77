"""The demo's training-set ledger: two data sets, their snapshots and the people in them, and the
models trained on them, registered through the same services as the API (as the AI-training
pipeline would). Alice's erasure (seed_requests) then marks the newest snapshot holding her
"removal required", and carla's upheld objection every snapshot holding her: both wait for the
pipeline's answer (examples/training_pipeline.py gives one).

Idempotent: a data set already registered is left as it is."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from portal.audit.services import Actor
from portal.training import services as ledger

PIPELINE = Actor("system", "demo-pipeline")


def _quarter_end(year: int, quarter: int) -> date:
    return date(year, 12, 31) if quarter == 4 else date(year, 3 * quarter + 1, 1) - timedelta(days=1)


def _last_quarters(today: date, n: int) -> list[date]:
    """The ends of the last ``n`` quarters that ended at least three weeks ago, the oldest first."""
    year, quarter = today.year, (today.month - 1) // 3 + 1
    ends: list[date] = []
    while len(ends) < n:
        quarter -= 1
        if quarter == 0:
            year, quarter = year - 1, 4
        if _quarter_end(year, quarter) <= today - timedelta(days=21):
            ends.append(_quarter_end(year, quarter))
    return sorted(ends)


def seed_ledger(ids: Mapping[str, str], today: date) -> bool:
    """Register the demo's ledger for the people in ``ids`` (e-mail -> subject id); False when it
    was there already."""
    if ledger.dataset("activity-patterns") is not None:
        return False
    ledger.register_dataset("activity-patterns", "Train models that predict focus time and suggest breaks.",
                            ["input_events", "app_activity"], actor=PIPELINE)
    ledger.register_dataset("screen-context", "Train a model that recognises the kind of work on screen.",
                            ["app_activity", "screenshots"], actor=PIPELINE)
    excluded = ledger.excluded_subjects(list(ids.values()))  # a snapshot never holds them
    everyone = [subject for _, subject in sorted(ids.items()) if subject not in excluded]
    first, second = _last_quarters(today, 2)
    for number, (ended, people) in enumerate(((first, everyone), (second, everyone)), start=1):
        ledger.register_snapshot("activity-patterns", f"ap-{ended.isoformat()}", ended + timedelta(days=9),
                                 ["input_events", "app_activity"],
                                 [(subject, 1000 * (number + 2) + index * 137) for index, subject in enumerate(people)],
                                 actor=PIPELINE)
    screen_people = [ids[e] for e in ("alice@example.com", "bob@example.com", "bruno@example.com")
                     if e in ids and ids[e] not in excluded]
    weekly = today - timedelta(days=19)  # inside alice's erasure of the days from 20 to 18 days ago
    ledger.register_snapshot("screen-context", f"sc-{weekly.isoformat()}", weekly, ["app_activity", "screenshots"],
                             [(subject, 40 + 7 * index) for index, subject in enumerate(screen_people)],
                             actor=PIPELINE)
    ledger.register_model("FocusPredict", "2.1", first + timedelta(days=20),
                          [("activity-patterns", f"ap-{first.isoformat()}")], actor=PIPELINE)
    ledger.register_model("FocusPredict", "2.2", second + timedelta(days=20),
                          [("activity-patterns", f"ap-{first.isoformat()}"),
                           ("activity-patterns", f"ap-{second.isoformat()}")], actor=PIPELINE)
    ledger.register_model("ScreenSense-M", "1.0", weekly + timedelta(days=1),
                          [("screen-context", f"sc-{weekly.isoformat()}")], actor=PIPELINE)
    return True
