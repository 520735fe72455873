"""The CPU whole-step backend (``StepBackend`` in ``step``); importing this package imports nothing."""
