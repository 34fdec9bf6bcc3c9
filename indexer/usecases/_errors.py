"""What a use case answers when the thing asked for is not there for this reader."""

from __future__ import annotations


class NotFound(LookupError):
    """Nothing by that name the reader may see; the message is safe to show.

    `did_you_mean` holds close names the reader may see (None: not looked
    for), and `link` the URL pattern (`{}` for one of them) a page offers them as.
    """

    def __init__(
        self, message: str, did_you_mean: list[str] | None = None, link: str = "/postmortems/{}"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.did_you_mean = did_you_mean
        self.link = link
