"""`shop webhook-events`: the enabled_events a deployment's webhook endpoint is created with."""
from click.testing import CliRunner

from app.cli import main
from app.events.handlers import HANDLERS
from stripe_emulator.event_types import KNOWN


def test_the_command_names_every_type_the_shop_acts_on_and_nothing_else():
    result = CliRunner().invoke(main, ["webhook-events"])
    assert result.exit_code == 0, result.output
    names = result.output.strip().split(",")
    assert names == sorted(HANDLERS)
    assert {"payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded",
            "charge.dispute.created"} <= set(names)


def test_each_type_is_one_a_webhook_endpoint_accepts():
    # Stripe refuses an endpoint whose enabled_events names an unknown type (the emulator's list mirrors it)
    assert set(HANDLERS) <= KNOWN
