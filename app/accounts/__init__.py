"""Who is using the app: login modes, roles, password accounts and the auth secret."""
