"""Fuzzing: the OpenAPI document driven by Schemathesis, and Hypothesis properties."""
