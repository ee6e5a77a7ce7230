"""Search over requests, cases and persons: the index written with each change
(`documents`), names across scripts (`names`), and the ranked, authorized query (`query`)."""
