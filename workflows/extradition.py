"""Extradition: provisional arrest, formal request, judicial decision and surrender.

One shared record of the case; each step is taken by the party that acts in it (the
requesting authority drafts and sends, the requested authority arrests, decides, surrenders).
"""

from workflows.base import StateDef, TransitionDef, WorkflowDef

T = TransitionDef
PROVISIONAL = ("extradition.provisional_arrest",)
FORMAL = ("extradition.request", "extradition.surrender")
CUSTODY_TIMERS = ("formal_request", "decision", "surrender")

DEFINITION = WorkflowDef(
    name="extradition",
    title="Extradition",
    initial="draft",
    received=(("extradition.provisional_arrest", "provisional_arrest_requested"),
              ("*", "formal_request_received")),
    states=(
        StateDef("draft", "Draft"),
        StateDef("in_review", "In review"),
        StateDef("approved", "Approved"),
        StateDef("provisional_arrest_requested", "Provisional arrest requested"),
        StateDef("person_arrested", "Person arrested"),
        StateDef("formal_request_due", "Formal request due"),
        StateDef("formal_request_received", "Formal request received"),
        StateDef("judicial_phase", "Before the court"),
        StateDef("granted", "Extradition granted"),
        StateDef("refused", "Extradition refused"),
        StateDef("surrender_scheduled", "Surrender scheduled"),
        StateDef("surrendered", "Surrendered", final=True),
        StateDef("released", "Released", final=True),
        StateDef("withdrawn", "Withdrawn", final=True),
    ),
    transitions=(
        T("submit", ("draft",), "in_review", "requesting", label="Submit for review"),
        T("return_to_draft", ("in_review",), "draft", "requesting", roles=("supervisor",),
          guards=("reason_required",), label="Return to drafter"),
        T("approve", ("in_review",), "approved", "requesting", roles=("supervisor",),
          label="Approve"),
        T("transmit", ("approved",), "provisional_arrest_requested", "requesting",
          kinds=PROVISIONAL, guards=("template_complete", "text_in_accepted_language",
                                     "profile_requirements"),
          label="Transmit request for provisional arrest"),
        T("transmit", ("approved",), "formal_request_received", "requesting", kinds=FORMAL,
          guards=("template_complete", "text_in_accepted_language", "profile_requirements"),
          label="Transmit extradition request"),
        # The 18/40-day clocks run from the arrest itself (ECE art. 16(4)).
        T("arrest", ("provisional_arrest_requested",), "person_arrested", "requested",
          opens=("formal_request",), label="Record arrest"),
        T("notify_arrest", ("person_arrested",), "formal_request_due", "requested",
          label="Notify arrest; formal request now due"),
        T("receive_formal_request", ("formal_request_due",), "formal_request_received",
          "requested", closes=("formal_request",), label="Record formal request received"),
        T("refer_to_court", ("formal_request_received",), "judicial_phase", "requested",
          opens=("decision",), label="Refer to the court"),
        T("grant", ("judicial_phase",), "granted", "requested", roles=("supervisor",),
          closes=("decision",), label="Record decision: granted"),
        T("refuse", ("judicial_phase",), "refused", "requested", roles=("supervisor",),
          guards=("refusal_grounds",), closes=("decision",),
          label="Record decision: refused"),
        T("schedule_surrender", ("granted",), "surrender_scheduled", "requested",
          opens=("surrender",), label="Schedule surrender"),
        T("reschedule_surrender", ("surrender_scheduled",), "surrender_scheduled", "requested",
          guards=("reason_required",), closes=("surrender",), opens=("surrender",),
          label="Set a new surrender date"),
        T("surrender", ("surrender_scheduled",), "surrendered", "requested",
          closes=("surrender",), label="Record surrender"),
        T("release", ("person_arrested", "formal_request_due", "formal_request_received",
                      "judicial_phase", "refused", "surrender_scheduled"), "released",
          "requested", guards=("reason_required",), closes=CUSTODY_TIMERS,
          label="Release the person"),
        T("withdraw", ("draft", "in_review", "approved", "provisional_arrest_requested",
                       "formal_request_received"), "withdrawn", "requesting",
          guards=("reason_required",), label="Withdraw"),
    ),
)
