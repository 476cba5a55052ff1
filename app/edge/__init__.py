"""The app's edge: what a browser (or anything pretending to be one) may send and receive.

Chainlit trusts several client-supplied values more than it should (the socket's session id
becomes a folder name; uploads are served inline with the type the client claimed). Every
check here runs before Chainlit sees the request.
"""

from app.edge.install import install_edge_guards

__all__ = ["install_edge_guards"]
