"""Extradition and the European arrest warrant: provisional arrest, the request, arrest on
it, consent, the final decision and surrender.

One shared record of the case; each step is taken by the party that acts in it (the
requesting authority drafts and sends, the requested authority arrests, decides, surrenders).
The events the law counts time from are steps of their own (arrest, consent, final decision,
new surrender date), so a clock starts at its legal trigger, never at the next procedural
step that happens to be recorded (mla/data/deadlines.yaml names the trigger of each rule).
"""

from mla.i18n import N_
from workflows.base import StateDef, TransitionDef, WorkflowDef

T = TransitionDef
PROVISIONAL = ("extradition.provisional_arrest",)
FORMAL = ("extradition.request", "extradition.surrender")
CUSTODY_TIMERS = ("formal_request", "decision", "decision_consent", "surrender",
                  "surrender_new_date")

DEFINITION = WorkflowDef(
    name="extradition",
    title=N_("Extradition"),
    initial="draft",
    received=(("extradition.provisional_arrest", "provisional_arrest_requested"),
              ("*", "formal_request_received")),
    states=(
        StateDef("draft", N_("Draft")),
        StateDef("in_review", N_("In review")),
        StateDef("approved", N_("Approved")),
        StateDef("provisional_arrest_requested", N_("Provisional arrest requested")),
        StateDef("person_arrested", N_("Person arrested")),
        StateDef("formal_request_due", N_("Formal request due")),
        StateDef("formal_request_received", N_("Formal request received")),
        StateDef("arrested_on_request", N_("Person arrested on the request or warrant")),
        StateDef("judicial_phase", N_("Before the court")),
        StateDef("consented", N_("Person consented to surrender")),
        StateDef("granted", N_("Extradition granted")),
        StateDef("refused", N_("Extradition refused")),
        StateDef("surrender_scheduled", N_("Surrender scheduled")),
        StateDef("surrendered", N_("Surrendered"), final=True),
        StateDef("released", N_("Released"), final=True),
        StateDef("withdrawn", N_("Withdrawn"), final=True),
    ),
    transitions=(
        T("submit", ("draft",), "in_review", "requesting", label=N_("Submit for review")),
        T("return_to_draft", ("in_review",), "draft", "requesting", roles=("supervisor",),
          guards=("reason_required",), label=N_("Return to drafter")),
        T("approve", ("in_review",), "approved", "requesting", roles=("supervisor",),
          label=N_("Approve")),
        T("transmit", ("approved",), "provisional_arrest_requested", "requesting",
          kinds=PROVISIONAL, guards=("template_complete", "text_in_accepted_language",
                                     "profile_requirements"),
          label=N_("Transmit request for provisional arrest")),
        T("transmit", ("approved",), "formal_request_received", "requesting", kinds=FORMAL,
          guards=("template_complete", "text_in_accepted_language", "profile_requirements"),
          label=N_("Transmit extradition request")),
        # The arrest is the trigger of ECE art. 16(4) (18/40 days), UN Model art. 9(4) and
        # EAW art. 17(3) (60 days to the final decision).
        T("arrest", ("provisional_arrest_requested",), "person_arrested", "requested",
          guards=("occurred_at",), opens=("formal_request", "decision"),
          label=N_("Record arrest")),
        T("arrest", ("formal_request_received",), "arrested_on_request", "requested",
          kinds=FORMAL, guards=("occurred_at",), opens=("decision",),
          label=N_("Record arrest on the request or warrant")),
        T("notify_arrest", ("person_arrested",), "formal_request_due", "requested",
          label=N_("Notify arrest; formal request now due")),
        T("receive_formal_request", ("formal_request_due",), "formal_request_received",
          "requested", guards=("occurred_at",), closes=("formal_request",),
          label=N_("Record formal request received")),
        T("refer_to_court", ("formal_request_received", "arrested_on_request"),
          "judicial_phase", "requested", label=N_("Refer to the court")),
        # EAW art. 17(2): consent replaces the 60 days from arrest by 10 days from consent.
        T("consent", ("person_arrested", "formal_request_due", "arrested_on_request",
                      "judicial_phase"), "consented", "requested",
          guards=("occurred_at",), closes=("decision",), opens=("decision_consent",),
          label=N_("Record the person's consent to surrender")),
        T("consent", ("formal_request_received",), "consented", "requested",
          kinds=PROVISIONAL, guards=("occurred_at",), closes=("decision",),
          opens=("decision_consent",), label=N_("Record the person's consent to surrender")),
        # The final decision is the trigger of EAW art. 23(2): surrender within 10 days.
        T("grant", ("judicial_phase", "consented"), "granted", "requested",
          roles=("supervisor",), guards=("occurred_at",),
          closes=("decision", "decision_consent"), opens=("surrender",),
          label=N_("Record final decision: surrender granted")),
        T("refuse", ("judicial_phase", "consented"), "refused", "requested",
          roles=("supervisor",), guards=("refusal_grounds", "occurred_at"),
          closes=("decision", "decision_consent"), label=N_("Record final decision: refused")),
        # The 10 days already run from the final decision; a request granted before they did
        # (revision 0011) gets its clock here, once: a running clock is never opened twice.
        T("schedule_surrender", ("granted",), "surrender_scheduled", "requested",
          opens=("surrender",), label=N_("Schedule surrender")),
        # EAW art. 23(3)-(4): surrender prevented or postponed; a new date is agreed and the
        # person is surrendered within 10 days of it.
        T("reschedule_surrender", ("granted", "surrender_scheduled"), "surrender_scheduled",
          "requested", guards=("reason_required", "agreed_date"),
          closes=("surrender", "surrender_new_date"), opens=("surrender_new_date",),
          label=N_("Agree a new surrender date")),
        T("surrender", ("granted", "surrender_scheduled"), "surrendered", "requested",
          closes=("surrender", "surrender_new_date"), label=N_("Record surrender")),
        T("release", ("person_arrested", "formal_request_due", "formal_request_received",
                      "arrested_on_request", "judicial_phase", "consented", "granted",
                      "refused", "surrender_scheduled"), "released",
          "requested", guards=("reason_required",), closes=CUSTODY_TIMERS,
          label=N_("Release the person")),
        T("withdraw", ("draft", "in_review", "approved", "provisional_arrest_requested",
                       "formal_request_received"), "withdrawn", "requesting",
          guards=("reason_required",), label=N_("Withdraw")),
    ),
)
