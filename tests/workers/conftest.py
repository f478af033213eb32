import pytest


@pytest.fixture(autouse=True)
def _services(services: str) -> str:
    return services
