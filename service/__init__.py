"""spot-sso: single sign-on tokens for MeltingSpot communities."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spot-sso")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
