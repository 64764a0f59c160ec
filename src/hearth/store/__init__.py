"""Persistence: the control-plane state behind one ``Store`` interface (SQLite by default) and the code store."""

from hearth.store.base import FunctionRecord, Store, StoredState
from hearth.store.code import CodePackage, CodeStore
from hearth.store.sqlite import SqliteStore

__all__ = ["CodePackage", "CodeStore", "FunctionRecord", "SqliteStore", "Store", "StoredState"]
