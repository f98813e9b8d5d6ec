"""The message layer: composition from the properties (headers, folding, encodings), strict
address parsing, and prebuilt (raw) messages."""
