"""The one wiring point: what runs inside every transition and for every alert.

Every entry point calls `install()` before it moves a request: the API's app factory, the
`mla` command, the worker loop (and the tests' fixtures). Nothing registers itself by being
imported, and a transition or an alert batch run before `install()` fails loudly instead of
committing without its deadlines, pages or outbox message.
"""

from __future__ import annotations

from mla.deadlines import escalation
from mla.deadlines import service as deadlines
from mla.mail import outbox as mail_outbox
from mla.oncall import paging
from mla.ops import metrics
from mla.requests import lifecycle
from mla.search import documents as search_documents
from mla.transfer import outbox as transfer_outbox

# Run in this order inside the transition's transaction.
TRANSITION_HOOKS: tuple[lifecycle.TransitionHook, ...] = (
    deadlines.on_transition,
    paging.on_transition,
    transfer_outbox.on_transition,
    mail_outbox.on_transition,
    # Counts the transition for /metrics when its transaction commits.
    metrics.on_transition,
)
ALERT_HOOKS: tuple[escalation.AlertHook, ...] = (paging.on_alert,)


def install() -> None:
    """Idempotent; cheap enough to call from every entry point."""
    lifecycle.set_hooks(TRANSITION_HOOKS)
    escalation.set_alert_hooks(ALERT_HOOKS)
    # The search index is rewritten in the flush that changes a request, case or person.
    search_documents.install()
    metrics.install()
