"""Bodies of user accounts (api/routers/users.py, and `GET /auth/me`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    full_name: str
    email: str | None
    role: str
    active: bool
    authority: str
    matrix_id: str | None = Field(default=None, description="Matrix account whose replies "
                                  "and reactions acknowledge pages as this user")


class UserIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "username": "ke.officer2", "full_name": "Amina Otieno", "role": "officer",
        "email": "amina@example.org", "password": "correct horse battery"}]})
    username: str = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    full_name: str = Field(min_length=1, max_length=200)
    role: str
    email: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=1024,
                                 description="At least 12 characters")


class UserPatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"role": "supervisor"}, {"active": False}]})
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    role: str | None = None
    email: str | None = Field(default=None, max_length=200)
    active: bool | None = None
    password: str | None = Field(default=None, max_length=1024)
    matrix_id: str | None = Field(default=None, max_length=255,
                                  description="@name:server; empty string: unlink")
