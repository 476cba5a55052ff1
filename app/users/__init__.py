"""`python -m app.users …`: the account command's fixed name; the code is app.accounts.cli."""
