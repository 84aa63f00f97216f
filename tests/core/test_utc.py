"""UTC helpers and the CLI's time parser."""

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from agentotel.core.utc import as_utc, parse_time, utcnow


def test_as_utc_normalises_every_form():
    aware = datetime(2026, 1, 31, 12, tzinfo=timezone.utc)
    assert as_utc(datetime(2026, 1, 31, 12)) == aware  # naive means UTC
    assert as_utc(datetime(2026, 1, 31, 13, tzinfo=timezone(timedelta(hours=1)))) == aware
    assert as_utc("2026-01-31T12:00:00Z") == aware
    assert as_utc(pd.Timestamp("2026-01-31 12:00")) == aware
    assert as_utc(None) is None
    assert as_utc(aware).tzinfo is timezone.utc
    with pytest.raises(TypeError):
        as_utc(12)


def test_utcnow_is_aware():
    assert utcnow().tzinfo is timezone.utc


def test_parse_time_iso_or_age():
    now = datetime(2026, 2, 1, tzinfo=timezone.utc)
    assert parse_time("24h", now) == now - timedelta(hours=24)
    assert parse_time("2026-01-31", now) == datetime(2026, 1, 31, tzinfo=timezone.utc)
    assert parse_time(None) is None
    with pytest.raises(ValueError, match="invalid time"):
        parse_time("yesterday", now)
