"""Requests sent by e-mail to authorities that run no instance of the engine: their
addresses (`addresses`), the outbox the `transmit` transition writes (`outbox`), its sending
by `mla worker` (`delivery`) and acknowledgements, recorded by an officer or read from a
reply (`acknowledgements`)."""
