"""Test helpers shared by several test packages: typed events, the SDK dialect, the relay capture."""
