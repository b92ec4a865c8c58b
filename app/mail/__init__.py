"""Mail: the receipt outbox and its sending, the development SMTP sink and its page."""
