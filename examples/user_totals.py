"""Yesterday's per-user event totals: the initial state of examples/user_state.yaml.

``update_state_by_key: {initial_loader: "user_totals:yesterday"}`` calls
:func:`yesterday` once, when the job is built (the job file's folder is on
``sys.path``, so this module imports by name). A restarted job resumes from its
checkpoint instead; the file is only read again for a fresh checkpoint.
"""

import csv
from pathlib import Path

TOTALS = Path(__file__).parent / "data" / "user_totals.csv"


def yesterday() -> dict[str, int]:
    """``{user_id: events}`` from the CSV file."""
    with TOTALS.open(newline="") as f:
        return {row["user_id"]: int(row["events"]) for row in csv.DictReader(f)}

