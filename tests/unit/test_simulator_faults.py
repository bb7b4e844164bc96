"""Simulator faults over counts, rates and time: reproducible, bounded, documented fields."""

from __future__ import annotations

import pytest

from meetstream_catalog.simulator.faults import FaultBook, FaultError, parse_fault


def fired(book: FaultBook, times: list[float], endpoint: str = "status") -> list[bool]:
    return [book.take(endpoint, "b1", now) is not None for now in times]


def test_a_rate_fault_fires_on_about_that_share_and_the_same_requests_every_run() -> None:
    def run() -> list[bool]:
        rule = {"endpoint": "*", "status": 500, "count": None, "probability": 0.2, "seed": 7}
        return fired(FaultBook([parse_fault(rule)]), [0.0] * 2000)

    first, second = run(), run()

    assert first == second  # seeded: reproducible
    assert 0.17 < sum(first) / len(first) < 0.23


def test_an_outage_window_starts_at_its_first_hit_and_ends_by_itself() -> None:
    book = FaultBook([parse_fault({"status": 503, "count": None, "for_seconds": 600})])

    hits = fired(book, [100.0, 400.0, 699.0, 700.0, 900.0])

    assert hits == [True, True, True, False, False]
    assert book.rules() == []  # expired rules are gone


def test_a_fault_between_two_clock_times() -> None:
    rule = {"endpoint": "get_recording_streams", "status": 500, "count": None,
            "start_at": 60, "end_at": 120}  # fmt: skip
    book = FaultBook([parse_fault(rule)])

    assert fired(book, [30.0, 60.0, 119.0, 120.0], "get_recording_streams") == [
        False, True, True, False,
    ]  # fmt: skip
    assert not fired(book_of(rule), [90.0], "status")[0]  # other endpoints untouched


def book_of(rule: dict[str, object]) -> FaultBook:
    return FaultBook([parse_fault(rule)])


def test_a_count_still_bounds_a_rate_fault() -> None:
    book = book_of({"status": 500, "count": 3, "probability": 0.5, "seed": 1})

    assert sum(fired(book, [0.0] * 200)) == 3


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"status": 500, "probability": 0}, "probability"),
        ({"status": 500, "probability": 1.5}, "probability"),
        ({"status": 500, "for_seconds": 0}, "for_seconds"),
        ({"status": 500, "start_at": 10, "end_at": 5}, "end_at"),
        ({"status": 500, "chance": 0.1}, "unknown"),
    ],
)
def test_malformed_rules_name_the_field(rule: dict[str, object], field: str) -> None:
    with pytest.raises(FaultError, match=field):
        parse_fault(rule)
