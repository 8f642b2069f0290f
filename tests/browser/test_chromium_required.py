"""Without chromium the browser tests are skipped with the reason, but fail under CI=true."""

from __future__ import annotations

import pytest

from tests.browser import conftest


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(conftest, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("PATH", "/nonexistent")
    return monkeypatch


def test_without_chromium_the_browser_tests_are_skipped_saying_why(
    no_chromium: pytest.MonkeyPatch,
) -> None:
    no_chromium.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        conftest.chromium_path()


def test_under_ci_a_missing_chromium_fails(no_chromium: pytest.MonkeyPatch) -> None:
    no_chromium.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true: \.ci/run installs it"):
        conftest.chromium_path()
