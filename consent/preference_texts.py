"""The preference centre's words, in English and Hindi (the customer's own page).

Plain words for each purpose (API.md's purposes, as the customer would say them) and the page's
labels. Kept as data rather than gettext catalogues: two languages, one page, and a reviewer can
read both side by side.
"""

from __future__ import annotations

from consent.purposes import Purpose

LANGUAGES: dict[str, str] = {"en": "English", "hi": "हिन्दी"}
DEFAULT_LANGUAGE = "en"

PURPOSE_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        Purpose.ORDER_UPDATES: (
            "Order updates",
            "Confirmations, shipping, delivery, returns and payments for orders you placed.",
        ),
        Purpose.ACCOUNT_SECURITY: (
            "Account security",
            "One-time codes when you sign in or confirm a payment.",
        ),
        Purpose.MARKETING: (
            "Offers",
            "Discounts, recommendations and reminders about your cart.",
        ),
        Purpose.SUPPORT: (
            "Support replies",
            "Our answers when you write to us on WhatsApp.",
        ),
    },
    "hi": {
        Purpose.ORDER_UPDATES: (
            "ऑर्डर अपडेट",
            "आपके ऑर्डर की पुष्टि, शिपिंग, डिलीवरी, वापसी और भुगतान की जानकारी।",
        ),
        Purpose.ACCOUNT_SECURITY: (
            "खाते की सुरक्षा",
            "साइन-इन या भुगतान की पुष्टि के लिए वन-टाइम कोड।",
        ),
        Purpose.MARKETING: (
            "ऑफ़र",
            "छूट, सुझाव और आपकी कार्ट के बारे में रिमाइंडर।",
        ),
        Purpose.SUPPORT: (
            "सहायता के जवाब",
            "WhatsApp पर आपके संदेशों के हमारे जवाब।",
        ),
    },
}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your WhatsApp messages from PANDORAKART",
        "intro": "Choose which WhatsApp messages you want from us. Tick to receive, untick to stop. "
        "Nothing else is needed: your choice counts as soon as you save.",
        "number": "For the number",
        "on": "On",
        "off": "Off",
        "never": "Not chosen",
        "since": "since",
        "save": "Save my choices",
        "saved": "Saved. Your choices are in force now.",
        "nothing_changed": "Saved. Nothing needed to change.",
        "turned_on": "Turned on",
        "turned_off": "Turned off",
        "not_offered": "Not offered under the current notice; you can still turn it off.",
        "notice": "The notice in force",
        "notice_version": "Version",
        "notice_read": "Read the full notice",
        "withdraw": "How to withdraw",
        "complain": "How to complain",
        "link_expires": "This link works until",
        "other_language": "हिन्दी में देखें",
        "error_title": "This link does not work",
        "error_invalid": "This link is not valid. It may have been copied incompletely.",
        "error_expired": "This link has expired.",
        "error_gone": "This link no longer works: the data for this number was erased at your request.",
        "error_again": "Reply PREFERENCES to us on WhatsApp and we will send you a new link. Nothing was changed.",
        "error_form": "Your choices could not be saved",
    },
    "hi": {
        "title": "PANDORAKART से आपके WhatsApp संदेश",
        "intro": "चुनें कि आप हमसे कौन-से WhatsApp संदेश चाहते हैं। पाने के लिए टिक करें, रोकने के लिए टिक हटाएँ। "
        "और कुछ नहीं करना है: सेव करते ही आपकी पसंद लागू हो जाती है।",
        "number": "इस नंबर के लिए",
        "on": "चालू",
        "off": "बंद",
        "never": "नहीं चुना",
        "since": "से",
        "save": "मेरी पसंद सेव करें",
        "saved": "सेव हो गया। आपकी पसंद अभी से लागू है।",
        "nothing_changed": "सेव हो गया। कुछ बदलने की ज़रूरत नहीं थी।",
        "turned_on": "चालू किया",
        "turned_off": "बंद किया",
        "not_offered": "मौजूदा सूचना में यह उपलब्ध नहीं है; आप इसे फिर भी बंद कर सकते हैं।",
        "notice": "लागू सूचना",
        "notice_version": "संस्करण",
        "notice_read": "पूरी सूचना पढ़ें",
        "withdraw": "सहमति कैसे वापस लें",
        "complain": "शिकायत कैसे करें",
        "link_expires": "यह लिंक इस समय तक काम करेगा:",
        "other_language": "View in English",
        "error_title": "यह लिंक काम नहीं कर रहा",
        "error_invalid": "यह लिंक मान्य नहीं है। हो सकता है यह पूरा कॉपी न हुआ हो।",
        "error_expired": "इस लिंक की समय-सीमा समाप्त हो गई है।",
        "error_gone": "यह लिंक अब काम नहीं करता: आपके अनुरोध पर इस नंबर का डेटा मिटा दिया गया है।",
        "error_again": "हमें WhatsApp पर PREFERENCES या पसंद लिखें, हम आपको नया लिंक भेजेंगे। कुछ भी बदला नहीं गया।",
        "error_form": "आपकी पसंद सेव नहीं हो सकी",
    },
}

# The WhatsApp reply to a preferences keyword when staff left its reply text empty.
DEFAULT_KEYWORD_REPLY: dict[str, str] = {
    "en": "Choose which WhatsApp messages you get from PANDORAKART: {link} (the link works for {days} days).",
    "hi": "PANDORAKART से कौन-से WhatsApp संदेश आपको मिलें, यहाँ चुनें: {link} (यह लिंक {days} दिन तक काम करेगा)।",
}


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE
