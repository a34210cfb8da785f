"""The one poll loop the host steps wait with."""
from __future__ import annotations

import pytest

from pktlab import wait


def test_returns_the_first_true_value():
    seen = iter([0, None, "", "up", "later"])
    assert wait.until(lambda: next(seen), timeout=5, interval=0.001) == "up"


def test_raises_what_fail_makes_of_the_last_value_after_the_timeout():
    calls = []

    def check():
        calls.append(1)
        return {}

    with pytest.raises(TimeoutError, match="still {}"):
        wait.until(check, timeout=0.05, interval=0.01, fail=lambda last: TimeoutError(f"still {last}"))
    assert len(calls) >= 2  # polled, and once more at the deadline


def test_without_fail_the_last_false_value_comes_back_and_a_zero_timeout_checks_once():
    calls = []
    assert wait.until(lambda: calls.append(1) or False, timeout=0) is False
    assert calls == [1]
