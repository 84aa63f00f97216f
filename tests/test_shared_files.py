"""tests/shared_files.py: a missing shared file skips locally with one reason, and fails on CI."""

from __future__ import annotations

import pytest

from tests.shared_files import DIALECT_CORPUS, shared_file


def test_a_present_file_is_returned(tmp_path) -> None:
    path = tmp_path / DIALECT_CORPUS
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    assert shared_file(DIALECT_CORPUS, tmp_path) == path


def test_an_absent_file_skips_locally(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=rf"shared file {DIALECT_CORPUS} not found in {tmp_path}/absent"):
        shared_file(DIALECT_CORPUS, tmp_path / "absent")


def test_an_absent_file_fails_on_ci(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=rf"shared file {DIALECT_CORPUS} not found"):
        shared_file(DIALECT_CORPUS, tmp_path / "absent")
