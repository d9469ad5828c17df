"""The boundary with people and programs: REST, Socket.IO, auth, dashboard and the CLI."""
