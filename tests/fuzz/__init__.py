"""The hostile-input fuzzer tier: generated objects the API server accepts, on the fake and real."""
