"""``Retry-After`` as seconds: delta-seconds or an HTTP date, never negative."""

from datetime import datetime, timezone

from agentotel.core.retry_after import retry_after_seconds


def test_retry_after_formats():
    now = datetime(2015, 10, 21, 7, 27, 50, tzinfo=timezone.utc)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(" 1.5 ") == 1.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("-4") == 0.0
    assert retry_after_seconds("soon") is None
