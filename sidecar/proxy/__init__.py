"""The I/O layer: the only package that imports aiohttp."""
