"""The configuration: one ``Settings`` object, built once at start-up and passed down."""
