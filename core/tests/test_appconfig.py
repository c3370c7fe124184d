import pytest
from toolhive.appconfig import AppConfig, load_config, update_config
from toolhive.errors import InvalidInputError
from toolhive.state import paths


@pytest.fixture(autouse=True)
def home(thv_home):
    return thv_home


def test_defaults_without_a_file():
    assert load_config() == AppConfig()


def test_update_keeps_unknown_keys_written_by_toolhive_go():
    path = paths.config_file()
    path.parent.mkdir(parents=True)
    path.write_text("registry_url: https://r.example/registry.json\nllm:\n  model: x\n")

    def change(config: AppConfig) -> None:
        config.ca_certificate_path = "/etc/ca.pem"

    update_config(change)
    text = path.read_text()
    assert "llm:" in text and "model: x" in text and "ca_certificate_path: /etc/ca.pem" in text
    assert load_config().registry_url == "https://r.example/registry.json"


def test_broken_yaml_names_the_file():
    path = paths.config_file()
    path.parent.mkdir(parents=True)
    path.write_text("registry_url: [unclosed\n")
    with pytest.raises(InvalidInputError, match=r"config\.yaml is not valid YAML"):
        load_config()
    assert path.read_text() == "registry_url: [unclosed\n"  # never overwritten
