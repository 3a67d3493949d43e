"""Where the shared editing traces are: SHARED_DATA_DIR, ../shared/data beside the checkout,
or /work/shared/data (CI runs a clone elsewhere on the same machine)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    candidates = [
        os.environ.get("SHARED_DATA_DIR"),
        ROOT.parent / "shared" / "data",
        "/work/shared/data",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "traces").is_dir():
            return Path(candidate)
    raise FileNotFoundError("the shared traces are missing: set SHARED_DATA_DIR")


def trace_path(name: str, ascii_only: bool = True) -> Path:
    base = shared_data_dir() / "traces"
    return (base / "ascii_only" / name) if ascii_only else (base / name)
