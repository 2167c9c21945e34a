"""Reading a body that may be larger than it should: up to a limit, never beyond."""

from __future__ import annotations

from collections.abc import AsyncIterable


async def read_at_most(
    chunks: AsyncIterable[bytes], limit: int, declared: str | None, too_large: Exception
) -> bytes:
    """Every chunk joined, or ``too_large`` raised as soon as the declared length
    (``Content-Length``) or the bytes read so far pass ``limit``: a large body is
    abandoned, never held whole."""
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)
