"""Console tests reuse the sync fixtures (the simulator runtime bound to the test database)."""

from tests.sync.conftest import rt  # noqa: F401 - re-exported fixture
