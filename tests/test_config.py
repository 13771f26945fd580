"""Configuration: TOML, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from baconalgo import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "baconalgo.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_are_valid_and_point_at_the_bundled_recording() -> None:
    c = load_config(None, environ={})
    assert c.bus.capacity == 65536
    assert c.server.host == "127.0.0.1"
    assert c.replay.path.exists()


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    p = write(tmp_path, "[bus]\ncapacity = 1024\nwait = 'blocking'\n[server]\nport = 9000\n")
    c = load_config(p, environ={"BACONALGO__SERVER__PORT": "9100", "BACONALGO__REPLAY__SPEED": "0"})
    assert (c.bus.capacity, c.bus.wait, c.server.port, c.replay.speed) == (
        1024,
        "blocking",
        9100,
        0,
    )


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("[bus]\ncapacity = 1000\n", {}, "bus.capacity"),
        ("[bus]\nwait = 'nap'\n", {}, "bus.wait"),
        ("[server]\nport = 70000\n", {}, "server.port"),
        ("[server]\nprot = 1\n", {}, "server.prot"),
        ("", {"BACONALGO__SERVER__PORT": "abc"}, "server.port"),
        ("[replay]\nspeed = -1\n", {}, "replay.speed"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(write(tmp_path, text), environ=env)


def test_missing_and_malformed_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[bus\n"), environ={})


def test_summary_redacts_secret_looking_keys() -> None:
    from baconalgo.config import _redact

    data = {"venue": {"api_key": "abc", "secret": "s", "url": "wss://x"}, "n": 1}
    assert _redact(data) == {"venue": {"api_key": "***", "secret": "***", "url": "wss://x"}, "n": 1}
