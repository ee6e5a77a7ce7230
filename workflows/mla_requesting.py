"""MLA request as the requesting authority sees it, from draft to closure."""

from workflows.base import ANY_OFFICER, RESUME, StateDef, TransitionDef, WorkflowDef

T = TransitionDef
ALL_TIMERS = ("acknowledgement", "recognition", "execution", "info_reply", "production",
              "preservation", "suggested_date")
OPEN_AFTER_TRANSMIT = ("transmitted", "acknowledged", "info_requested", "info_provided",
                       "in_execution", "partially_executed", "postponed")

DEFINITION = WorkflowDef(
    name="mla_requesting",
    title="MLA request - requesting side",
    initial="draft",
    states=(
        StateDef("draft", "Draft"),
        StateDef("in_review", "In review"),
        StateDef("approved", "Approved"),
        StateDef("validated", "Validated by the judicial authority"),
        StateDef("translating", "Being translated"),
        StateDef("transmitted", "Transmitted"),
        StateDef("acknowledged", "Acknowledged by the requested authority"),
        StateDef("info_requested", "Further information requested", suspends_clocks=True),
        StateDef("info_provided", "Further information provided"),
        StateDef("in_execution", "In execution"),
        StateDef("partially_executed", "Partially executed"),
        StateDef("postponed", "Postponed", resumable=True, suspends_clocks=True),
        StateDef("executed", "Executed"),
        StateDef("closed", "Closed", final=True),
        StateDef("refused", "Refused", final=True),
        StateDef("withdrawn", "Withdrawn", final=True),
    ),
    # The other authority's acts (acknowledge ... refuse) arrive as status messages from a
    # peer instance; from a counterpart without one, an officer records the report received
    # by e-mail, phone or post, with the day it came (guard counterpart_report).
    transitions=(
        T("submit", ("draft",), "in_review", "requesting", label="Submit for review"),
        T("return_to_draft", ("in_review",), "draft", "requesting", roles=("supervisor",),
          guards=("reason_required",), label="Return to drafter"),
        T("approve", ("in_review",), "approved", "requesting", roles=("supervisor",),
          label="Approve"),
        # EIO, EPOC, EPOC-PR issued by a non-judicial authority (the form's `validation`).
        T("validate", ("approved",), "validated", "requesting", roles=("validator",),
          guards=("template_complete", "validation_needed"),
          label="Validate (judicial authority)"),
        T("send_to_translation", ("approved", "validated"), "translating", "requesting",
          label="Send to translation"),
        T("transmit", ("approved", "translating", "validated"), "transmitted", "requesting",
          guards=("template_complete", "validated_when_required",
                  "text_in_accepted_language", "profile_requirements"),
          opens=("acknowledgement", "recognition", "production", "preservation",
                 "suggested_date"), label="Transmit"),
        T("acknowledge", ("transmitted",), "acknowledged", "requesting",
          guards=("counterpart_report",), closes=("acknowledgement",),
          label="Acknowledgement received"),
        T("request_info", ("acknowledged", "info_provided", "in_execution"), "info_requested",
          "requesting", guards=("reason_required", "counterpart_report"), opens=("info_reply",),
          label="Request for information received"),
        T("provide_info", ("info_requested",), "info_provided", "requesting",
          closes=("info_reply",), label="Provide information"),
        # The requested authority's recognition decision (its `accept` arrives as this
        # step): the trigger of EIO art. 12(4)'s 90 days.
        T("start_execution", ("acknowledged", "info_provided"), "in_execution", "requesting",
          guards=("counterpart_report",), closes=("recognition",), opens=("execution",),
          label="Recognition and start of execution reported"),
        T("execute_partially", ("in_execution",), "partially_executed", "requesting",
          guards=("counterpart_report",), label="Partial execution reported"),
        T("complete", ("in_execution", "partially_executed"), "executed", "requesting",
          guards=("counterpart_report",),
          closes=("execution", "production", "suggested_date"), label="Execution reported"),
        T("postpone", ("acknowledged", "in_execution"), "postponed", "requesting",
          guards=("reason_required", "counterpart_report"), label="Postponement received"),
        T("resume", ("postponed",), RESUME, "requesting", guards=("counterpart_report",),
          label="Resumption reported"),
        # The requested side may refuse while waiting for our answer to its questions.
        T("refuse", ("transmitted", "acknowledged", "info_requested", "info_provided",
                     "in_execution", "postponed"), "refused", "requesting",
          guards=("refusal_grounds", "counterpart_report"),
          closes=ALL_TIMERS, label="Refusal received"),
        T("withdraw", ("draft", "in_review", "approved", "validated", "translating",
                       *OPEN_AFTER_TRANSMIT),
          "withdrawn", "requesting", roles=ANY_OFFICER, guards=("reason_required",),
          closes=ALL_TIMERS, label="Withdraw"),
        T("close", ("executed", "partially_executed"), "closed", "requesting",
          closes=("execution", "production", "suggested_date", "preservation"),
          label="Close"),
    ),
)
