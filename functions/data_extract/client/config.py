"""Where the server URL and API key come from, the way the AWS CLI finds its settings.

Precedence: the --url / --api-key flags; then the named profile when --profile was given explicitly; then the
environment (DATA_EXTRACT_URL, DATA_EXTRACT_API_KEY); then the profile (DATA_EXTRACT_PROFILE or `default`);
then the local stack's address.

Files (INI, like ~/.aws/config and ~/.aws/credentials):
    ~/.config/data-extract/config        [default] / [profile NAME] sections with `url = ...`
    ~/.config/data-extract/credentials   [NAME] sections with `api_key = ...` (written with mode 0600)
DATA_EXTRACT_CONFIG_FILE and DATA_EXTRACT_CREDENTIALS_FILE point elsewhere; XDG_CONFIG_HOME moves both.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

from data_extract.client._core import DEFAULT_URL, api_root

DEFAULT_PROFILE = "default"


class ConfigError(ValueError):
    """The configuration cannot be used: an unknown profile, an unreadable file, a malformed URL."""


def config_home() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "data-extract"


def config_file() -> Path:
    return Path(os.environ.get("DATA_EXTRACT_CONFIG_FILE") or config_home() / "config")


def credentials_file() -> Path:
    return Path(os.environ.get("DATA_EXTRACT_CREDENTIALS_FILE") or config_home() / "credentials")


def _section(profile: str) -> str:
    return profile if profile == DEFAULT_PROFILE else f"profile {profile}"


def _read(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return parser


@dataclass(frozen=True)
class Resolved:
    profile: str
    url: str
    api_key: str | None
    url_source: str
    api_key_source: str


def resolve(
    url: str | None = None, api_key: str | None = None, profile: str | None = None, *, new_profile_ok: bool = False
) -> Resolved:
    """The URL and key to use. An unknown named profile is an error unless `new_profile_ok` (login creates it)."""
    explicit_profile = profile is not None
    name = profile or os.environ.get("DATA_EXTRACT_PROFILE") or DEFAULT_PROFILE
    config, credentials = _read(config_file()), _read(credentials_file())
    section = _section(name)
    if (
        not new_profile_ok
        and name != DEFAULT_PROFILE
        and not (config.has_section(section) or credentials.has_section(name))
    ):
        raise ConfigError(
            f"profile '{name}' is not in {config_file()} or {credentials_file()}; "
            f"create it with: data-extract login --profile {name} --url URL"
        )
    profile_url = config.get(section, "url", fallback=None)
    profile_key = credentials.get(name, "api_key", fallback=None)

    def pick(flag: str | None, env_name: str, from_profile: str | None) -> tuple[str | None, str]:
        if flag:
            return flag, "flag"
        env_value = os.environ.get(env_name) or None
        if explicit_profile and from_profile:
            return from_profile, f"profile {name}"
        if env_value:
            return env_value, env_name
        if from_profile:
            return from_profile, f"profile {name}"
        return None, "none"

    chosen_url, url_source = pick(url, "DATA_EXTRACT_URL", profile_url)
    chosen_key, key_source = pick(api_key, "DATA_EXTRACT_API_KEY", profile_key)
    final_url = chosen_url or DEFAULT_URL
    try:
        api_root(final_url)
    except ValueError as exc:
        raise ConfigError(f"{exc} (from {url_source if chosen_url else 'the default'})") from None
    return Resolved(name, final_url, chosen_key, url_source if chosen_url else "default", key_source)


def save_profile(profile: str, *, url: str | None = None, api_key: str | None = None) -> None:
    """Write a profile's URL into the config file and its key into the credentials file (0600)."""
    if url is not None:
        path = config_file()
        config = _read(path)
        section = _section(profile)
        if not config.has_section(section):
            config.add_section(section)
        config.set(section, "url", url)
        _write(path, config, private=False)
    if api_key is not None:
        path = credentials_file()
        credentials = _read(path)
        if not credentials.has_section(profile):
            credentials.add_section(profile)
        credentials.set(profile, "api_key", api_key)
        _write(path, credentials, private=True)


def forget_api_key(profile: str) -> bool:
    """Remove a profile's stored API key; True when there was one."""
    path = credentials_file()
    credentials = _read(path)
    if not credentials.has_option(profile, "api_key"):
        return False
    credentials.remove_option(profile, "api_key")
    if not credentials.options(profile):
        credentials.remove_section(profile)
    _write(path, credentials, private=True)
    return True


def _write(path: Path, parser: configparser.ConfigParser, *, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    # Created with the final mode, so a key is never readable by others, not even for a moment.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        parser.write(handle)
    if private:
        os.chmod(temporary, 0o600)
    os.replace(temporary, path)
