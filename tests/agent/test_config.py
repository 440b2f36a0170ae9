"""Config validation: strict keys with helpful errors, defaults, home resolution."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agent.config import Config, Home, load_config, parse_config
from warehouse.errors import ConfigError


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(Home(tmp_path))
    assert config == Config()
    assert config.reporting_currency == "USD"


def test_home_default_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path / "h"))
    home = Home()
    assert home.path == (tmp_path / "h").resolve()
    assert home.warehouse_path.name == "warehouse.duckdb"
    assert home.config_path == home.path / "finops.yaml"


def test_unknown_top_level_key_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"reporting_curency": "EUR"}, "finops.yaml")
    message = str(err.value)
    assert "unknown key 'reporting_curency'" in message
    assert "reporting_currency" in message and "fx_rates" in message


def test_unknown_nested_key_lists_section_names() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"snowflake": {"credit_prize": 2}}, "finops.yaml")
    assert "snowflake.credit_prize" in str(err.value)
    assert "credit_price" in str(err.value)


def test_rates_are_uppercased_and_positive() -> None:
    config = parse_config({"fx_rates": {"nok": "0.094"}, "reporting_currency": "usd"})
    assert config.fx_rates == {"NOK": Decimal("0.094")}
    assert config.reporting_currency == "USD"
    with pytest.raises(ConfigError, match="must be positive"):
        parse_config({"fx_rates": {"EUR": 0}})


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "finops.yaml"
    path.write_text("fx_rates: [unclosed\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_config(Home(tmp_path))


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    (tmp_path / "finops.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(Home(tmp_path))
