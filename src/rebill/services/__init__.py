"""Use cases by billing noun: each takes the unit-of-work factory and runs its units of work
against the ports in `ports/` (an agency's repositories through `uow.for_agency`, the
platform's through `uow.platform`)."""
