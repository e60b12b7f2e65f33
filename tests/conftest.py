"""Test-wide fixtures: real servers on loopback, each defined in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.cluster",
    "tests.fixtures.git",
    "tests.fixtures.registry",
    "tests.fixtures.s3",
    "tests.fixtures.sink",
    "tests.fixtures.workers",
    "tests.fixtures.gitops",
    "tests.fixtures.helm",
]
