"""curator: self-hosted dataset curation and labeling for LLM fine-tuning.

The core is plain Python (no Streamlit): ``curator.store`` owns DuckDB; services per
capability (``users``, ``projects``, ``importing``, ``queue``, ``settle``, ``agreement``,
``export``, ``validate``, ``tokens``, ``jobs``) take the store and the acting user.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("curator")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.1.0"

__all__ = ["__version__"]
