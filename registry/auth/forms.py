"""Sign-in and account forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from registry.auth.passwords import MAX_LENGTH, MIN_LENGTH
from registry.enums import Role


def options(pairs):
    return [SelectChoice(value, label) for value, label in pairs]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


class LogoutForm(FlaskForm):
    pass


class UserCreateForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    role = SelectField("Role", choices=options(Role.choices()), validators=[DataRequired()])
    password = PasswordField(
        "Initial password",
        validators=[DataRequired(), Length(min=MIN_LENGTH, max=MAX_LENGTH)],
        description=f"At least {MIN_LENGTH} characters. Share it with the person out of band.",
    )


class UserUpdateForm(FlaskForm):
    role = SelectField("Role", choices=options(Role.choices()), validators=[DataRequired()])
    active = BooleanField("Account active")


class TokenCreateForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(message="Name the token."), Length(max=100)],
                       description="What uses it, e.g. “MLOps pipeline” or “Ticketing sync”.")
    expires_on = DateField("Last day it works (optional)", validators=[Optional()],
                           description="Leave empty for a token that works until you revoke it.")


class TokenRevokeForm(FlaskForm):
    pass
