"""The ``etlcore`` command: run jobs, run the demo, list plugins."""
