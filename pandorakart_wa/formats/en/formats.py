"""How the back office writes dates and times (settings.FORMAT_MODULE_PATH): India time, with
the zone named and seconds shown, so a STOP and the message after it read in the right order.
One format for table columns, object pages, the audit trail and the compliance pages."""

DATETIME_FORMAT = "j M Y, H:i:s T"  # 1 Dec 2026, 16:06:46 IST
SHORT_DATETIME_FORMAT = "j M Y, H:i T"
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i:s"
