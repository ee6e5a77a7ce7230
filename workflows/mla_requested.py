"""MLA request as the requested authority handles it, from receipt to results."""

from mla.i18n import N_
from workflows.base import RESUME, StateDef, TransitionDef, WorkflowDef

T = TransitionDef
ALL_TIMERS = ("acknowledgement", "recognition", "execution", "postponement", "production",
              "preservation", "suggested_date")

DEFINITION = WorkflowDef(
    name="mla_requested",
    title=N_("MLA request - requested side"),
    initial="received",
    # Registration is the receipt: the trigger of EIO arts. 12(3) and 16(1), e-Evidence arts.
    # 10(2)/(4) and 11(1), and the date the requesting State suggested (UNTOC art. 18(24)).
    initial_opens=("acknowledgement", "recognition", "production", "preservation",
                   "suggested_date"),
    states=(
        StateDef("received", N_("Received")),
        StateDef("assessing", N_("Being assessed")),
        StateDef("info_requested", N_("Further information requested"), resumable=True,
                 suspends_clocks=True),
        StateDef("accepted", N_("Accepted for execution")),
        StateDef("in_execution", N_("In execution")),
        StateDef("postponed", N_("Postponed"), resumable=True, suspends_clocks=True),
        StateDef("executed", N_("Executed")),
        StateDef("results_sent", N_("Results sent")),
        StateDef("closed", N_("Closed"), final=True),
        StateDef("refused", N_("Refused"), final=True),
        StateDef("withdrawn", N_("Withdrawn by the requesting authority"), final=True),
    ),
    transitions=(
        T("acknowledge", ("received",), "assessing", "requested",
          closes=("acknowledgement",), label=N_("Acknowledge receipt")),
        T("request_info", ("assessing", "in_execution"), "info_requested", "requested",
          guards=("reason_required",), label=N_("Ask for further information")),
        T("info_received", ("info_requested",), RESUME, "requested",
          label=N_("Further information received")),
        T("accept", ("assessing",), "accepted", "requested", roles=("supervisor",),
          closes=("recognition",), opens=("execution",), label=N_("Accept for execution")),
        T("start_execution", ("accepted",), "in_execution", "requested",
          label=N_("Start execution")),
        T("postpone", ("accepted", "in_execution"), "postponed", "requested",
          roles=("supervisor",), guards=("reason_required",), opens=("postponement",),
          label=N_("Postpone")),
        T("resume", ("postponed",), RESUME, "requested", closes=("postponement",),
          label=N_("Resume")),
        T("execute", ("in_execution",), "executed", "requested",
          closes=("execution", "production", "suggested_date"), label=N_("Mark executed")),
        T("send_results", ("executed",), "results_sent", "requested", label=N_("Send results")),
        T("close", ("results_sent",), "closed", "requested", closes=("preservation",),
          label=N_("Close")),
        T("refuse", ("received", "assessing", "info_requested", "accepted", "in_execution",
                     "postponed"), "refused", "requested", roles=("supervisor",),
          guards=("refusal_grounds",),
          closes=ALL_TIMERS, label=N_("Refuse")),
        T("withdrawn_by_requester", ("received", "assessing", "info_requested", "accepted",
                                     "in_execution", "postponed"), "withdrawn", "requested",
          guards=("reason_required",),
          closes=ALL_TIMERS, label=N_("Record withdrawal by the requesting authority")),
    ),
)
