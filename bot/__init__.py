"""TicketLens: support and report tickets, looked up from Discord."""
