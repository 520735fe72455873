"""Compatibility layers. ``import graphengine.compat.v1 as tf`` runs TF1 graph-mode programs."""
from . import v1

__all__ = ["v1"]
