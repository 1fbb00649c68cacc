"""`VidaioSettings`: the one pydantic-settings base of every `VIDAIO_*` configuration model.

Env prefix `VIDAIO_`, sections nested with `__`, `.env` as the default env file. List settings
accept JSON (`["av1","hevc"]`) or a comma-separated value (`av1,hevc`) from the environment and
env files alike. The strict unknown-key check and one-line errors live in the loader
(`vidaio.settings_load.load_settings`), which every daemon uses.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "VIDAIO_"
NESTED_DELIMITER = "__"


def decode_list_or_json(value: Any, name: str = "value") -> Any:
    """JSON when the value is JSON, else a comma-separated string becomes a list of its items.

    A value that starts like JSON (`[`, `{`, `"`) but does not parse raises ValueError naming the
    JSON error, so a broken JSON list is not silently read as one odd item.
    """
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        if value.lstrip().startswith(("[", "{", '"')):
            raise ValueError(f"{name} is not valid JSON ({exc.msg} at character {exc.pos})") from None
    return [item.strip() for item in value.split(",") if item.strip()]


class _LenientEnv(EnvSettingsSource):
    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        return decode_list_or_json(value, field_name)


class _LenientDotEnv(DotEnvSettingsSource):
    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        return decode_list_or_json(value, field_name)


class VidaioSettings(BaseSettings):
    """Base of the daemons' (and tools') settings models: `VIDAIO_` prefix, `__` sections, `.env`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED_DELIMITER, env_file=".env", extra="ignore"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = _LenientEnv(settings_cls)
        dotenv_file = getattr(dotenv_settings, "env_file", settings_cls.model_config.get("env_file"))
        dotenv = _LenientDotEnv(settings_cls, env_file=dotenv_file)
        return init_settings, env, dotenv, file_secret_settings
