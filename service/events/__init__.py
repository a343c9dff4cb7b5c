"""POST /events: behaviour events → the user's history and behaviour matrix in Redis."""
