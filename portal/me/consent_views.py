"""(being built)"""

from flask import Blueprint

bp = Blueprint("consent", __name__)
