"""The catalog (``projects.py``: ``Catalog``), in layers: ``base``, ``triggers``, ``functions``, ``gateway``."""

from hearth.catalog.base import Change, now_text
from hearth.catalog.projects import Catalog

__all__ = ["Catalog", "Change", "now_text"]
