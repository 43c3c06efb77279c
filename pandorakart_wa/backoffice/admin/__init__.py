"""The admin site, its app config and the staff screens that span apps."""
