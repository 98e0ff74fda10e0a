"""Moderate pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("moderate", __name__)
