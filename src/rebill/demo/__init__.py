"""The demo: its data set (a platform, an agency, plans, clients, a month of calls) and sign-ins."""
