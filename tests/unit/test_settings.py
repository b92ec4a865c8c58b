"""Settings are read from names derived from the fields themselves: nothing is listed twice."""
from dataclasses import fields

from app.settings import Settings, env_name


def test_every_setting_is_read_from_its_derived_environment_name():
    samples = {"bool": ("true", True), "int": ("7", 7), "float": ("2.5", 2.5)}
    env, expected = {}, {}
    for field in fields(Settings):
        text, value = samples.get(field.type, (f"value-of-{field.name}", f"value-of-{field.name}"))
        if field.type == "tuple[str, ...]":
            text, value = "a.example, b.example", ("a.example", "b.example")
        if field.name == "env":
            text, value = "test", "test"
        env[env_name(field.name)] = text
        expected[field.name] = value
    settings = Settings.from_env(env, dotenv=False)
    assert {field.name: getattr(settings, field.name) for field in fields(Settings)} == expected


def test_the_names_operators_know_are_kept():
    assert [env_name(n) for n in ("env", "stripe_webhook_secrets", "database_url", "stripe_read_timeout")] == [
        "SHOP_ENV", "STRIPE_WEBHOOK_SECRET", "DATABASE_URL", "STRIPE_READ_TIMEOUT"]


def test_an_empty_variable_keeps_the_default():
    settings = Settings.from_env({"STRIPE_READ_TIMEOUT": ""}, dotenv=False)
    assert settings.stripe_read_timeout == Settings().stripe_read_timeout
