"""(being built)"""

from flask import Blueprint

bp = Blueprint("browse", __name__)
