"""The collaboration domain: documents, roles, the Yjs sync protocol, rooms and persistence."""
