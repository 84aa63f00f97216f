"""One duration parser, one meaning: every component and CLI flag goes through ``agentotel.core.durations``."""

from datetime import timedelta

import pytest

from agentotel.core.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("1.5h", timedelta(minutes=90)),
        ("12H", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        ("7", timedelta(days=7)),  # a bare number means days, everywhere
        (30, timedelta(days=30)),
        (timedelta(seconds=3), timedelta(seconds=3)),
    ],
)
def test_accepted_forms(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["-5m", "soon", "", "5 minutes", True, None, -1, timedelta(seconds=-1)])
def test_rejected_forms_name_the_accepted_ones(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_cli_alert_rules_and_retention_agree():
    """The drift the re-plan removed: ``30`` meant days in the warehouse and seconds in the rules."""
    from agentotel.alerting import spec
    from agentotel.warehouse import manager

    assert spec.parse_duration is manager.parse_duration is parse_duration
