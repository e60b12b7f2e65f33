"""The bench's sluice-versus-Flux figures: ratio direction, formatting, best within a budget."""

from __future__ import annotations

import pytest

from bench.compare import Compared, best_within, ratio, ratio_text
from bench.run import markdown
from bench.scenarios import Result, Row
from bench.scenarios.firstapply import round_trips

MACHINE: dict[str, object] = {
    "cores": 2,
    "cpu_model": "test CPU",
    "memory_gib": 23.5,
    "python": "3.11.2",
    "kube_apiserver": "1.36.3",
    "etcd": "3.6.16",
    "kustomize": "5.8.2",
    "redis": "7.0.15",
    "flux": {"source-controller": "1.9.6", "kustomize-controller": "1.9.6"},
    "load_average_at_start": [0.5, 0.4, 0.3],
}


@pytest.mark.parametrize(
    ("sluice", "peer", "higher_is_better", "expected"),
    [
        (9.5, 8.2, True, 9.5 / 8.2),  # a rate: sluice faster -> above 1
        (1.3, 5.1, True, 1.3 / 5.1),  # a rate: sluice slower -> below 1
        (0.14, 0.17, False, 0.17 / 0.14),  # a time: sluice quicker -> above 1
        (3.6, 9.8, False, 9.8 / 3.6),  # CPU: sluice cheaper -> above 1
        (374.0, 219.0, False, 219.0 / 374.0),  # memory: sluice dearer -> below 1
        (0.0, 5.0, True, None),
        (5.0, 0.0, False, None),
    ],
)
def test_ratio_reads_higher_is_sluice_better(
    sluice: float, peer: float, higher_is_better: bool, expected: float | None
) -> None:
    got = ratio(sluice, peer, higher_is_better=higher_is_better)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (1.15, "1.15x"), (0.2549, "0.25x"), (2.745, "2.75x"), (150.4, "150x")],
)
def test_ratio_text(value: float | None, text: str) -> None:
    assert ratio_text(value) == text


@pytest.mark.parametrize(
    ("sluice", "peer", "higher_is_better", "unit", "digits", "expected"),
    [
        (9.5, 8.2, True, "rec/s", 2, Compared("9.50 rec/s", "8.20 rec/s", "1.16x")),
        (0.14, 0.17, False, "s", 2, Compared("0.14 s", "0.17 s", "1.21x")),
        (75.2, 20.0, False, "", 0, Compared("75", "20", "0.27x")),
        (1.67, 2.16, False, "x", 2, Compared("x1.67", "x2.16", "1.29x")),
    ],
)
def test_compared_of(
    sluice: float,
    peer: float,
    higher_is_better: bool,
    unit: str,
    digits: int,
    expected: Compared,
) -> None:
    got = Compared.of(sluice, peer, higher_is_better=higher_is_better, unit=unit, digits=digits)
    assert got == expected


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (100.0, 4),  # all fit: the fastest
        (30.0, 2),  # 4 workers used too much CPU
        (12.0, 1),
        (5.0, None),  # none fits
    ],
)
def test_best_within(budget: float, expected: int | None) -> None:
    rates = {1: 1.3, 2: 2.5, 4: 4.5}
    costs = {1: 10.0, 2: 25.0, 4: 60.0}
    assert best_within(rates, costs, budget) == expected


@pytest.mark.parametrize(
    ("took", "rtt_ms", "trips"), [(1.5, 20.0, 75.0), (0.16, 20.0, 8.0), (0.0, 20.0, 0.0)]
)
def test_round_trips(took: float, rtt_ms: float, trips: float) -> None:
    assert round_trips(took, rtt_ms) == pytest.approx(trips)


def _results() -> list[Result]:
    return [
        Result(
            name="latency",
            title="commit-to-applied",
            rows=[Row("hook: p50", "0.14 s", "webhook", peer="0.17 s", ratio="1.21x")],
        ),
        Result(name="footprint", title="footprint", rows=[Row("memory", "300 MiB", "PSS")]),
        Result(name="fanout", title="fan-out", error="BenchError: timed out\nmore"),
    ]


def test_markdown_has_both_columns_and_ratio_when_a_peer_ran() -> None:
    text = markdown(_results(), MACHINE, command="make bench --peer flux")
    lines = text.splitlines()
    assert "Flux source-controller 1.9.6, Flux kustomize-controller 1.9.6" in lines[0]
    assert lines[2] == (
        "| scenario | metric | sluice | Flux | ratio (higher = sluice better) | setup / notes |"
    )
    assert "| commit-to-applied | hook: p50 | 0.14 s | 0.17 s | 1.21x | webhook |" in lines
    assert "| footprint | memory | 300 MiB | - |  | PSS |" in lines
    assert "| fan-out | FAILED | - | - | - | BenchError: timed out |" in lines


def test_markdown_keeps_one_value_column_without_a_peer() -> None:
    results = [Result(name="footprint", title="footprint", rows=[Row("memory", "300 MiB", "PSS")])]
    lines = markdown(results, MACHINE, command="make bench").splitlines()
    assert lines[2] == "| scenario | metric | value | setup / notes |"
    assert "| footprint | memory | 300 MiB | PSS |" in lines
