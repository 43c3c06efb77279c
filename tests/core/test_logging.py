from __future__ import annotations

import logging

from pandorakart_wa.core.logging import MaskPhoneNumbersFilter, mask_phone_numbers


def test_phone_numbers_are_masked_in_log_text():
    assert mask_phone_numbers("sent to +919227021270 ok") == "sent to +91******1270 ok"
    assert mask_phone_numbers("wa_id 919227021270") == "wa_id 91******1270"
    assert mask_phone_numbers("order PK-10023 at 12:30") == "order PK-10023 at 12:30"


def test_the_filter_masks_formatted_arguments():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "opt-out from %s", ("+919227021270",), None)
    MaskPhoneNumbersFilter().filter(record)
    assert record.getMessage() == "opt-out from +91******1270"
