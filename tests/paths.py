"""Where tests find things: the repository root, the shared real data, the bundled fixtures."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FIXTURES", "ROOT", "SHARED_DATA"]

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
"""`../shared/data`: read-only real billing files (see its PROVENANCE.md)."""
FIXTURES = ROOT / "tests" / "fixtures"
