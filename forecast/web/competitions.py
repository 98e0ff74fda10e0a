"""Competitions pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("competitions", __name__)
