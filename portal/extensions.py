"""The Flask extensions, created unbound and initialised in :func:`portal.create_app`."""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask_babel import Babel
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_session import Session
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from portal.db import Base

# The models subclass portal.db.Base itself (typed, with its constraint naming convention); given
# here, it makes that base's metadata and registry the ones db.metadata and db.create_all use.
db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
oauth = OAuth()
babel = Babel()
server_sessions = Session()
mail = Mail()  # configured from PORTAL_SMTP_URL by portal.mail.init_app
