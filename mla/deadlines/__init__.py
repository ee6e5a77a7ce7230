"""Legal time limits: rules as data, the clocks each request runs, working-day calendars,
and the escalation of due steps into alerts."""
