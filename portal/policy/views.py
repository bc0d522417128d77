"""(being built)"""

from flask import Blueprint

bp = Blueprint("policy", __name__)
