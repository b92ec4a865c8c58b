"""Kept for existing imports (`from stack import ...`): the stack launcher lives in tests/support."""
from tests.support.database import query  # noqa: F401
from tests.support.shopper import ATTEMPT, CSRF, PAGE_CSRF, Shopper  # noqa: F401
from tests.support.stack import (BACKGROUND_ROLES, PAYMENTS_ROLE, WEB_ROLE, WORKER_ROLE, MailProcess,  # noqa: F401
                                 MailSink, Stack, pin_process_tree)
