"""Requests: filing from templates, the lifecycle, listing, texts, translations, attachments."""
