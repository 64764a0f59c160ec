"""Secrets: values a function may read, stored encrypted at rest and handed to its instances at start.

    names.py   what a secret may be called (an environment variable's name Hearth does not reserve)
    keys.py    the master key (a 0600 file in the data folder, or HEARTH_MASTER_KEY) and AES-GCM sealing
    vault.py   ``Vault``: set, list, remove, reveal for an instance, rotate the master key; over the state store

Plain text exists only in the vault's return values, the request that sets a secret and the environment (or
files) of the instances of functions that name it; never in the store, the logs or any API answer.
"""

from hearth.secrets.keys import MasterKey
from hearth.secrets.names import secret_name_problem
from hearth.secrets.vault import SecretInfo, Vault

__all__ = ["MasterKey", "SecretInfo", "Vault", "secret_name_problem"]
