"""Every write of the profile app: the business profile and its sync with Meta, drift
resolution, policy versions, the regulatory register and compliance alerts.

profile is the lowest app: it imports no other app, and any app may call `alert_raise`.
"""
