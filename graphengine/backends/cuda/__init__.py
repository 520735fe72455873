"""The GPU backend (``CudaBackend`` in ``backend``); importing this package imports nothing."""
