"""Browser tests: Chromium walks through the running demo stack."""
