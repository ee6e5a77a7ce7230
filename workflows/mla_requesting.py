"""MLA request as the requesting authority sees it, from draft to closure."""

from mla.i18n import N_
from workflows.base import ANY_OFFICER, RESUME, StateDef, TransitionDef, WorkflowDef

T = TransitionDef
ALL_TIMERS = ("acknowledgement", "recognition", "execution", "info_reply", "production",
              "preservation", "suggested_date")
OPEN_AFTER_TRANSMIT = ("transmitted", "acknowledged", "info_requested", "info_provided",
                       "in_execution", "partially_executed", "postponed")

DEFINITION = WorkflowDef(
    name="mla_requesting",
    title=N_("MLA request - requesting side"),
    initial="draft",
    states=(
        StateDef("draft", N_("Draft")),
        StateDef("in_review", N_("In review")),
        StateDef("approved", N_("Approved")),
        StateDef("validated", N_("Validated by the judicial authority")),
        StateDef("translating", N_("Being translated")),
        StateDef("transmitted", N_("Transmitted")),
        StateDef("acknowledged", N_("Acknowledged by the requested authority")),
        StateDef("info_requested", N_("Further information requested"), suspends_clocks=True),
        StateDef("info_provided", N_("Further information provided")),
        StateDef("in_execution", N_("In execution")),
        StateDef("partially_executed", N_("Partially executed")),
        StateDef("postponed", N_("Postponed"), resumable=True, suspends_clocks=True),
        StateDef("executed", N_("Executed")),
        StateDef("closed", N_("Closed"), final=True),
        StateDef("refused", N_("Refused"), final=True),
        StateDef("withdrawn", N_("Withdrawn"), final=True),
    ),
    # The other authority's acts (acknowledge ... refuse) arrive as status messages from a
    # peer instance; from a counterpart without one, an officer records the report received
    # by e-mail, phone or post, with the day it came (guard counterpart_report).
    transitions=(
        T("submit", ("draft",), "in_review", "requesting", label=N_("Submit for review")),
        T("return_to_draft", ("in_review",), "draft", "requesting", roles=("supervisor",),
          guards=("reason_required",), label=N_("Return to drafter")),
        T("approve", ("in_review",), "approved", "requesting", roles=("supervisor",),
          label=N_("Approve")),
        # EIO, EPOC, EPOC-PR issued by a non-judicial authority (the form's `validation`).
        T("validate", ("approved",), "validated", "requesting", roles=("validator",),
          guards=("template_complete", "validation_needed"),
          label=N_("Validate (judicial authority)")),
        T("send_to_translation", ("approved", "validated"), "translating", "requesting",
          label=N_("Send to translation")),
        T("transmit", ("approved", "translating", "validated"), "transmitted", "requesting",
          guards=("template_complete", "validated_when_required",
                  "text_in_accepted_language", "profile_requirements"),
          opens=("acknowledgement", "recognition", "production", "preservation",
                 "suggested_date"), label=N_("Transmit")),
        T("acknowledge", ("transmitted",), "acknowledged", "requesting",
          guards=("counterpart_report",), closes=("acknowledgement",),
          label=N_("Acknowledgement received")),
        T("request_info", ("acknowledged", "info_provided", "in_execution"), "info_requested",
          "requesting", guards=("reason_required", "counterpart_report"), opens=("info_reply",),
          label=N_("Request for information received")),
        T("provide_info", ("info_requested",), "info_provided", "requesting",
          closes=("info_reply",), label=N_("Provide information")),
        # The requested authority's recognition decision (its `accept` arrives as this
        # step): the trigger of EIO art. 12(4)'s 90 days.
        T("start_execution", ("acknowledged", "info_provided"), "in_execution", "requesting",
          guards=("counterpart_report",), closes=("recognition",), opens=("execution",),
          label=N_("Recognition and start of execution reported")),
        T("execute_partially", ("in_execution",), "partially_executed", "requesting",
          guards=("counterpart_report",), label=N_("Partial execution reported")),
        T("complete", ("in_execution", "partially_executed"), "executed", "requesting",
          guards=("counterpart_report",),
          closes=("execution", "production", "suggested_date"), label=N_("Execution reported")),
        T("postpone", ("acknowledged", "in_execution"), "postponed", "requesting",
          guards=("reason_required", "counterpart_report"), label=N_("Postponement received")),
        T("resume", ("postponed",), RESUME, "requesting", guards=("counterpart_report",),
          label=N_("Resumption reported")),
        # The requested side may refuse while waiting for our answer to its questions.
        T("refuse", ("transmitted", "acknowledged", "info_requested", "info_provided",
                     "in_execution", "postponed"), "refused", "requesting",
          guards=("refusal_grounds", "counterpart_report"),
          closes=ALL_TIMERS, label=N_("Refusal received")),
        T("withdraw", ("draft", "in_review", "approved", "validated", "translating",
                       *OPEN_AFTER_TRANSMIT),
          "withdrawn", "requesting", roles=ANY_OFFICER, guards=("reason_required",),
          closes=ALL_TIMERS, label=N_("Withdraw")),
        T("close", ("executed", "partially_executed"), "closed", "requesting",
          closes=("execution", "production", "suggested_date", "preservation"),
          label=N_("Close")),
    ),
)
