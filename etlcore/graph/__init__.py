"""The lazy operator graph: one node per operator, evaluated once per batch."""
