"""Put the pipeline's scripts/ on sys.path, so that a dev tool run as
`python scripts/dev/<tool>.py` imports the pipeline's helpers (common, sumcheck, ...).
Dev tools import this first; the pipeline never imports from scripts/dev/."""

import sys
from pathlib import Path

SCRIPTS = str(Path(__file__).resolve().parent.parent)
if SCRIPTS not in sys.path:
    sys.path.insert(1, SCRIPTS)
