"""Sans-I/O framing decoders: bytes in, events out. Standard library only."""
