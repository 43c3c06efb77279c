"""The staff side that spans apps: the admin site with 2FA, dashboard, reports, evidence pack and
staff accounts. It reads the apps through their selectors."""
