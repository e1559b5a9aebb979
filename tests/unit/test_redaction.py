"""Secrets stay out of Events, refusals and logs by value: env vars, runtime envs, URL passwords."""

from __future__ import annotations

from typing import Any

from rayop.operator.controllers import runtime_env_secrets
from rayop.runtime.logs import redact
from rayop.runtime.redaction import scrub, secret_values, use_secrets


def rayjob() -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j"}, "spec": {
        "entrypoint": "python x.py --db https://admin:db-pass-42@db.internal/x",
        "runtimeEnvYAML": "env_vars: {WANDB_API_KEY: wandb-key-0123, MODE: fast}\npip: [x]\n",
        "rayClusterSpec": {"headGroupSpec": {"template": {"spec": {"containers": [{
            "name": "ray-head", "image": "ray",
            "env": [{"name": "HF_TOKEN", "value": "hf_abcdef123"},
                    {"name": "DEBUG", "value": "1"}]}]}}}},
        "metadata": {"password": "p4ssw0rd!"},
    }}


def test_the_secret_values_of_an_object_are_found_at_any_depth() -> None:
    found = secret_values(rayjob(), extra=runtime_env_secrets)
    # MODE=fast and DEBUG=1 are too short to redact without blanking half of every message
    assert found == {"db-pass-42", "hf_abcdef123", "p4ssw0rd!", "wandb-key-0123"}


def test_text_quoting_them_is_scrubbed_and_url_passwords_always() -> None:
    secrets = secret_values(rayjob(), extra=runtime_env_secrets)
    text = ('Pod "j-head" is invalid: env[0].value: "hf_abcdef123", WANDB_API_KEY=wandb-key-0123'
            ", see https://bob:other-secret@x.invalid/")
    assert scrub(text, secrets) == ('Pod "j-head" is invalid: env[0].value: "[redacted]", '
                                    "WANDB_API_KEY=[redacted], see "
                                    "https://bob:[redacted]@x.invalid/")


def test_the_log_processor_scrubs_the_failed_object_s_secrets() -> None:
    use_secrets(secret_values(rayjob(), extra=runtime_env_secrets))
    try:
        event = redact(None, "warning", {"event": "reconcile failed",
                                         "error": "Invalid('env: hf_abcdef123')",
                                         "token": "anything"})
    finally:
        use_secrets(frozenset())
    assert event == {"event": "reconcile failed", "error": "Invalid('env: [redacted]')",
                     "token": "[redacted]"}
