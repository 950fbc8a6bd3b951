import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Real recordings beside the project; override with EMGKIT_SHARED_DATA.
SHARED_DATA = Path(os.environ.get("EMGKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not available: {SHARED_DATA} does not exist "
                    "(set EMGKIT_SHARED_DATA to the shared/data folder)")
    return SHARED_DATA


def shared_file(shared_data: Path, relative: str) -> Path:
    """A file under shared/data, or skip naming it."""
    path = shared_data / relative
    if not path.exists():
        pytest.skip(f"{path} is not present")
    return path
