"""The common models and API envelopes: pure msgspec Structs; imports nothing of ours."""
