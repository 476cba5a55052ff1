"""Durable chats: the schema and its migrations, Chainlit's SQLAlchemy data layer adapted to
this app, local file storage, and the start-up self-check."""
