"""The ground floor every app stands on; it imports no app (DESIGN.md "Layout")."""
