"""Deterministic generator of realistic customer-support tickets for the demo and benchmarks.

The tickets are written to a fictional smart-home company, *Lumora*: it sells devices (hubs,
cameras, bulbs, plugs, doorbells, thermostats) in an online shop and sells app subscriptions
(Free, Plus, Pro, Business). Every text is made here from templates and phrase pools; names,
e-mails (example.* domains), phone numbers (fictional ranges) and IBANs are fake.

How it is fast: the generator renders pools of text pieces (greetings, ticket cores in five
tones, extra lines, sign-offs, subjects) once per seed with ``random.Random(seed)``. A ticket is
then a handful of numpy-drawn indices into those pools plus one number drawn per ticket (an
order, invoice, account or case number), so per ticket Python only joins pieces. The writers
keep CSV- and JSON-escaped UTF-8 copies of every piece, so a row is escaped by joining bytes.

Public API:

- ``CATEGORIES``: label -> one-line description (the demo project's label set);
  ``CATEGORY_WEIGHTS``: the skewed share of each label.
- ``generate_tickets(n, seed=7, *, dup_fraction=0, near_dup_fraction=0)``: list of ticket dicts.
- ``duplicate_pairs(n, seed=7, ...)``: which tickets copy which (ground truth for dedup).
- ``generate_reply(ticket, rng)`` and ``generate_reply_pair(ticket, rng)``: agent replies.
- ``write_tickets_csv(path, n, seed=7, ...)`` / ``write_tickets_jsonl(...)``: stream to disk,
  same rows as ``generate_tickets`` with the same arguments.
"""
from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from curator.errors import InvalidInput

__all__ = [
    "CATEGORIES",
    "CATEGORY_WEIGHTS",
    "CSV_COLUMNS",
    "JSONL_KEYS",
    "WrittenFile",
    "duplicate_pairs",
    "generate_reply",
    "generate_reply_pair",
    "generate_tickets",
    "write_tickets_csv",
    "write_tickets_jsonl",
]

# --------------------------------------------------------------------------------------------
# Label set
# --------------------------------------------------------------------------------------------

CATEGORIES: dict[str, str] = {
    "billing": "Charges, invoices, payment methods, failed payments or unexpected amounts on a statement.",
    "refund": "The customer asks for money back for an order, a returned item or a subscription period.",
    "shipping_delay": "An order is late, stuck in transit, lost, or was delivered to the wrong place.",
    "account_access": "Cannot log in: passwords, two-factor codes, locked or hijacked accounts, email changes.",
    "bug_report": "The app, website or a device misbehaves: crashes, error messages, features not working.",
    "cancellation": "The customer wants to cancel a subscription or an order, or close the account.",
    "feature_request": "A suggestion or request for a capability the product does not have yet.",
    "technical_setup": "Help installing, pairing, configuring or integrating a device or the app.",
    "data_privacy": "Personal-data requests: export, deletion, consent, recordings, security or privacy worries.",
    "complaint": "General dissatisfaction with service, staff, quality or policy, without one fixable request.",
    "praise": "Thanks, compliments or other positive feedback.",
    "other": "Fits no other label: partnerships, press, job applications, spam, unrelated questions.",
}

#: Share of each category among generated tickets (skewed: a few common, a long tail rare).
CATEGORY_WEIGHTS: dict[str, float] = {
    "billing": 0.20,
    "shipping_delay": 0.16,
    "technical_setup": 0.13,
    "account_access": 0.12,
    "refund": 0.10,
    "bug_report": 0.09,
    "cancellation": 0.06,
    "complaint": 0.05,
    "feature_request": 0.035,
    "data_privacy": 0.025,
    "praise": 0.02,
    "other": 0.01,
}

CSV_COLUMNS: tuple[str, ...] = (
    "external_id", "subject", "body", "category", "channel", "customer_tier", "created_at",
)
JSONL_KEYS: tuple[str, ...] = (
    "external_id", "subject", "body", "text", "category", "alt_category", "channel",
    "customer_tier", "created_at", "language", "sentiment",
)

_CATS: tuple[str, ...] = tuple(CATEGORIES)
_TONES: tuple[str, ...] = ("polite", "angry", "terse", "nonnative", "rambling")
_CHANNELS: tuple[str, ...] = ("email", "web", "chat")
_TIERS: tuple[str, ...] = ("free", "standard", "premium", "enterprise")
_TIER_P = np.array([0.40, 0.35, 0.18, 0.07])
# Tone mix per category (polite, angry, terse, nonnative, rambling).
_TONE_P_DEFAULT = (0.33, 0.18, 0.15, 0.10, 0.24)
_TONE_P: dict[str, tuple[float, ...]] = {
    "praise": (0.55, 0.0, 0.20, 0.10, 0.15),
    "feature_request": (0.50, 0.08, 0.17, 0.10, 0.15),
    "complaint": (0.25, 0.45, 0.08, 0.07, 0.15),
    "other": (0.50, 0.05, 0.25, 0.12, 0.08),
    "data_privacy": (0.45, 0.20, 0.15, 0.10, 0.10),
}
# Channel mix per tone (email, web, chat): terse messages come mostly through chat.
_CHANNEL_P = {
    "polite": (0.55, 0.30, 0.15),
    "angry": (0.50, 0.30, 0.20),
    "terse": (0.15, 0.20, 0.65),
    "nonnative": (0.55, 0.30, 0.15),
    "rambling": (0.65, 0.30, 0.05),
}

# Per-ticket number slots: marker in templates -> (low, high) of the drawn integer.
_SLOTS: dict[str, tuple[int, int]] = {
    "N5": (10_000, 100_000),
    "N6": (100_000, 1_000_000),
    "N7": (1_000_000, 10_000_000),
    "N8": (10_000_000, 100_000_000),
}
_SLOT_NAMES: tuple[str, ...] = tuple(_SLOTS)
_SLOT_RE = re.compile(r"\{(N5|N6|N7|N8)\}")

# --------------------------------------------------------------------------------------------
# Vocabulary (pool-time slots)
# --------------------------------------------------------------------------------------------

_VOCAB: dict[str, tuple[str, ...]] = {
    "product": (
        "Lumora Hub 2", "Lumora Cam Mini", "Lumora Cam Outdoor", "Lumora Smart Plug (4-pack)",
        "Lumora Doorbell Pro", "Lumora Bulb Color E27", "Lumora Bulb White GU10 (2-pack)",
        "Lumora Motion Sensor", "Lumora Thermostat T3", "Lumora Leak Detector",
        "Lumora Light Strip 2m", "Lumora Door/Window Sensor", "Lumora Hub 2 starter kit",
    ),
    "device": ("hub", "camera", "doorbell", "thermostat", "smart plug", "bulb", "motion sensor", "light strip"),
    "plan": ("Plus", "Pro", "Business", "Plus annual", "Pro annual", "Family"),
    "cur": ("$", "€", "£", "US$", "EUR ", "CHF "),
    "cents": (".99", ".00", ".49", ".95", ".50", ".90", ".29"),
    "date": (
        "March 3", "the 14th", "12/02", "2 May", "Monday", "Friday", "June 21st", "the 1st",
        "01.09.", "Sept 30", "the 28th of October", "Jan 5",
    ),
    "days": ("3", "5", "6", "8", "10", "12", "two", "three", "four", "five"),
    "weeks": ("two", "three", "3", "4", "six", "several"),
    "carrier": ("UPS", "DHL", "FedEx", "USPS", "Royal Mail", "DPD", "PostNL", "La Poste", "GLS", "Canada Post"),
    "city": ("Leeds", "Austin", "Lyon", "Rotterdam", "Toronto", "Melbourne", "Dublin", "Graz", "Porto", "Denver"),
    "os": ("iOS 18.2", "iOS 17.6", "Android 14", "Android 15", "Android 13", "iPadOS 18", "Windows 11", "macOS 15"),
    "phone_model": ("iPhone 15", "iPhone 13 mini", "Pixel 8", "Galaxy S23", "Galaxy A54", "OnePlus 12", "Xiaomi 13T"),
    "browser": ("Chrome", "Firefox", "Safari", "Edge", "Brave"),
    "app_ver": ("5.12.0", "5.12.1", "5.13.0", "5.11.4", "6.0.0", "6.0.2"),
    "feature": (
        "HomeKit support", "a dark mode for the web dashboard", "Matter support", "export of energy data to CSV",
        "a widget for the lock screen", "scheduling by sunset/sunrise", "multiple admins per home",
        "a Linux desktop app", "local recording to an SD card", "geofencing for more than one phone",
        "an API for the thermostat", "Apple Watch notifications", "Hebrew language in the app",
    ),
    "error": (
        "Error 503", "\"Something went wrong (code E-1042)\"", "\"Device offline\"", "a blank white screen",
        "\"Session expired\"", "\"Unable to reach hub\"", "ERR_TIMEOUT", "\"Payment could not be processed\"",
    ),
    "staff": ("Kevin", "an agent called Maria", "your chat bot", "the person on the phone", "someone named Tom"),
    "n_small": ("two", "three", "4", "5", "six", "2"),
    "years": ("3", "4", "five", "6", "7", "two"),
}

_FIRST = (
    "Jane", "John", "Priya", "Mohammed", "Wei", "Sofia", "Lukas", "Amara", "Diego", "Hannah", "Kenji",
    "Olga", "Fatima", "Liam", "Chloé", "Mateus", "Ngozi", "Aleksander", "Emma", "Raj", "Zoë", "Tomás",
    "Grace", "Yusuf", "Ines", "Pieter", "Mei", "Carlos", "Aisha", "Bjørn", "Sarah", "Dmitri", "Lucy",
)
_LAST = (
    "Doe", "Smith", "Patel", "Khan", "Zhang", "Rossi", "Müller", "Okafor", "García", "Schmidt", "Tanaka",
    "Ivanova", "Haddad", "O'Brien", "Dubois", "Silva", "Adeyemi", "Nowak", "Johnson", "Sharma", "Brown",
    "López", "Williams", "Yilmaz", "Fernandes", "de Vries", "Chen", "Martínez", "Bello", "Larsen",
)
_COMPANIES = ("Acme Facilities Ltd", "Greenleaf Property Mgmt", "Harbor Dental Group", "Northwind Lofts", "Bluebird Cafés")
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")

# --------------------------------------------------------------------------------------------
# Ticket content per category
# --------------------------------------------------------------------------------------------
# subjects: subject lines. issue: opening sentence, exactly one per-ticket number slot ({N5} to {N8}).
# detail/ask: sentences without a slot. terse/nonnative: whole short messages with one slot.
# angry: category-specific angry sentences. ambiguous: (core with one slot, other plausible label).

_CONTENT: dict[str, dict[str, tuple[Any, ...]]] = {
    "billing": {
        "subjects": (
            "Charged twice", "Question about my invoice", "Wrong amount on my card", "Payment failed",
            "Invoice needed for my company", "Why was I charged?", "Unknown charge on statement",
            "Update payment method", "Billing question", "VAT missing on invoice", "double charge!!",
            "Price went up without notice?",
        ),
        "issue": (
            "I was charged {price} twice for the same order #{N7}.",
            "My bank statement shows a charge of {price} from Lumora on {date} that I don't recognise (reference {N8}).",
            "The invoice INV-{N6} for my {plan} subscription shows the wrong billing address.",
            "My card was declined when renewing {plan} but the money ({price}) still left my account {N6}.",
            "I'm on the {plan} plan (account {N6}) and this month I paid {price} instead of the usual price.",
            "Could you send me a proper VAT invoice for order #{N7}? The one in the app has no VAT number on it.",
            "I tried to change my payment card for account {N6} and the page keeps saying {error}.",
            "There are two pending transactions for order {N8} and only one order.",
        ),
        "detail": (
            "I only have one account and one subscription.",
            "My bank says the charge is not pending, it's completed.",
            "I checked the billing page in the app and it only lists one payment.",
            "The card ends in 4417, in case that helps.",
            "Our accountant needs this before the end of the month.",
            "I never agreed to a price increase.",
            "This happened last year as well.",
            "I paid with PayPal, not with a card.",
        ),
        "ask": (
            "Can you please check what happened and correct it?",
            "Please send me a corrected invoice.",
            "Could you explain what this charge is for?",
            "Please fix this and confirm by email.",
            "How do I update the card on file?",
        ),
        "terse": (
            "charged twice order {N7}",
            "need invoice for #{N7}",
            "why {price}?? account {N6}",
            "payment failed again, acct {N6}",
            "invoice INV-{N6} wrong address pls fix",
        ),
        "nonnative": (
            "I am seeing in my bank one payment of {price} two times for the order {N7}. Please to check this and return the double payment.",
            "Kindly provide the invoice with the company details for order number {N7}, it is required for our accounts department.",
            "Why I am charged for {plan} when I am having the free plan only? My account number is {N6}.",
        ),
        "angry": (
            "This is the second time you've taken money without asking.",
            "I want an explanation, not a template answer.",
            "If this isn't sorted I'll dispute it with my bank.",
        ),
        "ambiguous": (
            ("I cancelled {plan} on {date} but you still charged me {price} this month. Why? Account {N6}.", "cancellation"),
            ("You charged me {price} for order #{N7} that never even arrived.", "shipping_delay"),
            ("There's a {price} charge I don't recognise and I can't log in to check my account (ID {N6}).", "account_access"),
        ),
    },
    "refund": {
        "subjects": (
            "Refund request", "Where is my refund?", "Return and refund", "Money back please",
            "Refund not received", "Refund for damaged item", "refund??", "Request for reimbursement",
            "Returned item - no refund yet",
        ),
        "issue": (
            "I returned the {product} from order #{N7} on {date} and still haven't received my refund.",
            "I'd like a refund for order #{N7}; the {product} arrived damaged.",
            "Please refund the {price} I paid for the {plan} plan on account {N6}, I upgraded by mistake.",
            "The {product} (order {N8}) doesn't work with my setup, so I want to return it and get my money back.",
            "Your agent promised me a refund of {price} {weeks} weeks ago (case {N6}) and nothing has arrived.",
            "I was told my refund for return RMA-{N6} was approved, but my bank shows nothing.",
        ),
        "detail": (
            "The tracking shows you received the parcel.",
            "I still have the original box and all accessories.",
            "It's been more than 10 business days.",
            "The item was a gift and never used.",
            "I sent photos of the damage to your team already.",
            "I'd prefer the money back rather than store credit.",
        ),
        "ask": (
            "When can I expect the money back?",
            "Please process the refund to my original payment method.",
            "Can you confirm the refund amount and date?",
            "Please let me know what I need to do to get refunded.",
            "I'd like this resolved this week.",
        ),
        "terse": (
            "refund for {N7}?",
            "where is my refund, RMA-{N6}",
            "want my money back order {N7}",
            "refund {price} pls, order {N7}",
            "returned {N8}, no refund yet",
        ),
        "nonnative": (
            "I have send back the {product} since {days} days (order {N7}) but the money is not coming back to me. Please to make the refund fast.",
            "Good day, I request the reimbursement of {price} for order {N7} because the item was broken when arriving. Kindly do the needful.",
            "Please I want to give back the product of order {N7}, it is not what I expect. How I get my money?",
        ),
        "angry": (
            "You were very quick to take my money, funny how slow the refund is.",
            "I have asked three times now.",
            "Stop telling me to wait another 5-7 days.",
        ),
        "ambiguous": (
            ("I want to cancel my {plan} subscription (account {N6}) and get back the {price} for this month.", "cancellation"),
            ("The {product} from order #{N7} stopped working after {days} days. I want a refund or a replacement that actually works.", "bug_report"),
            ("My parcel #{N7} is {weeks} weeks late. At this point just refund me.", "shipping_delay"),
        ),
    },
    "shipping_delay": {
        "subjects": (
            "Where is my order?", "Order not delivered", "Late delivery", "Tracking not updating",
            "Package lost?", "Order stuck in transit", "Still waiting for my parcel", "Delivery status",
            "WHERE IS MY PACKAGE", "Wrong address on delivery", "Marked as delivered but nothing here",
        ),
        "issue": (
            "My order #{N7} was supposed to arrive on {date} and it's still not here.",
            "The tracking for order {N8} hasn't updated in {days} days; it just says \"in transit\" with {carrier}.",
            "{carrier} marked order #{N7} as delivered, but nothing was delivered to my address.",
            "I ordered the {product} {weeks} weeks ago (order #{N7}) and it hasn't even shipped.",
            "My order {N8} was sent to my old address in {city} even though I updated it before paying.",
            "I paid for express shipping on order #{N7} and it has taken {days} days so far.",
        ),
        "detail": (
            "I checked with my neighbours and the building reception.",
            "The order confirmation said 3-5 business days.",
            "I need it for a gift this weekend.",
            "The carrier says they don't have the parcel yet.",
            "My other orders from you always came on time.",
            "The tracking link in the email gives an error.",
        ),
        "ask": (
            "Can you tell me where it is?",
            "Please check with the carrier and let me know.",
            "If it's lost, please send a replacement.",
            "Can you give me a realistic delivery date?",
            "Could you refund the express shipping at least?",
        ),
        "terse": (
            "where is order {N7}",
            "order #{N7} late",
            "tracking {N8} not moving",
            "package {N7} says delivered, not here",
            "any update on {N7}?",
        ),
        "nonnative": (
            "My order number {N7} is not arrive until now, the tracking is saying same thing since {days} days. Please tell me when it is coming.",
            "Hello, the package was showing delivered but I am not receiving anything at my home. Order is {N7}. Kindly check with courier.",
            "I am waiting the {product} from long time. Order {N8}. When I will get?",
        ),
        "angry": (
            "Nobody at {carrier} or at Lumora can tell me anything.",
            "What exactly am I paying shipping for?",
            "This is the worst delivery experience I've ever had.",
        ),
        "ambiguous": (
            ("Order #{N7} is {weeks} weeks late and your chat bot keeps closing my conversations. Terrible service.", "complaint"),
            ("If order {N8} doesn't arrive by {date}, please cancel it.", "cancellation"),
        ),
    },
    "account_access": {
        "subjects": (
            "Can't log in", "Password reset not working", "Locked out of my account", "2FA code not arriving",
            "Account hacked?", "Change email address", "Login problem", "Reset link expired",
            "cant login!!!", "Lost my phone with authenticator",
        ),
        "issue": (
            "I can't log in to my account (ID {N6}); it says my password is wrong even after resetting it.",
            "The password reset email never arrives; I've requested it {n_small} times. My customer number is {N6}.",
            "My account {N6} is locked after too many attempts and the unlock link has expired.",
            "I lost my phone and with it my two-factor app, so I can't sign in to account {N6}.",
            "Someone changed the email on my account (customer no. {N7}) and I didn't do it.",
            "The 2FA SMS code doesn't arrive on my new number, account {N6}.",
            "Since the app update to {app_ver} I'm logged out every day and have to reset my password (user {N6}).",
        ),
        "detail": (
            "I checked the spam folder.",
            "I'm using the same email I always used.",
            "My cameras still work but I can't see the recordings without logging in.",
            "I tried on the app and on {browser}.",
            "My wife can still log in on her phone with the shared home.",
            "I got an email about a login from a device I don't recognise.",
        ),
        "ask": (
            "Can you unlock my account or reset it manually?",
            "How can I verify that I'm the owner?",
            "Please help me get back in.",
            "Please secure my account and tell me what happened.",
            "Can you switch my two-factor to email instead?",
        ),
        "terse": (
            "cant login, account {N6}",
            "reset email not arriving ({N6})",
            "locked out. acct {N6}",
            "2fa code not coming, user {N6}",
            "login broken since update, {N6}",
        ),
        "nonnative": (
            "I am not able to do the login in my account, it is telling password is not correct. My id is {N6}. Please reset it for me.",
            "Dear team, I forget my password and the mail for reset is not coming to me. Customer number {N6}. Kindly help.",
            "My account is block and I cannot see my camera. Please open it, the number is {N6}.",
        ),
        "angry": (
            "I'm locked out of my own house cameras because of your login system.",
            "Your reset process is a joke.",
            "I have been trying for two days.",
        ),
        "ambiguous": (
            ("Since version {app_ver} the app logs me out and crashes when I try to log in again (user {N6}).", "bug_report"),
            ("I think someone got into my account {N6} and looked at my camera recordings. How do I lock it down?", "data_privacy"),
        ),
    },
    "bug_report": {
        "subjects": (
            "App crashes on startup", "Bug: notifications not working", "Camera shows offline",
            "Error when saving schedule", "Thermostat ignores schedule", "App bug after update",
            "Website error at checkout", "Live view freezes", "Automation not triggering", "Bug report",
        ),
        "issue": (
            "Since updating the app to {app_ver}, it crashes on startup on my {phone_model}; crash ID {N8}.",
            "My {device} shows as offline in the app although it's online and working (device ID {N7}).",
            "Saving a schedule for the thermostat gives {error}. Home ID {N6}.",
            "Motion notifications stopped arriving after the last update; home ID {N6}.",
            "The live view from the Cam Outdoor freezes after about 10 seconds (serial LC-{N7}).",
            "Automations with more than {n_small} conditions never trigger; automation ID {N6}.",
            "Checkout on the website fails with {error} when I apply a discount code (cart {N7}).",
        ),
        "detail": (
            "I've restarted the app and the hub, no change.",
            "I reinstalled the app twice.",
            "It worked fine until last week.",
            "It happens on both my phone and my partner's phone.",
            "Steps: open the app, tap the device, wait a few seconds.",
            "The firmware on the hub is up to date.",
            "Screenshots attached.",
        ),
        "ask": (
            "Is this a known issue?",
            "Can you look into it?",
            "Is there a workaround until it's fixed?",
            "Please let me know when a fix is available.",
            "Do you need any logs from me?",
        ),
        "terse": (
            "app crashes on launch, {app_ver}, crash {N8}",
            "camera offline in app but works. id {N7}",
            "schedule save error, home {N6}",
            "notifications broken since update ({N6})",
            "bug: live view freezes, LC-{N7}",
        ),
        "nonnative": (
            "After the update the application is closing itself when I open it. Phone is {phone_model}, crash number {N8}. Please repair.",
            "The {device} is showing offline in the app but in reality it is working. The id is {N7}. What is the problem?",
            "When I make the schedule and press save it comes {error}. Home number {N6}.",
        ),
        "angry": (
            "Did anyone test this update before releasing it?",
            "I paid good money for something that doesn't work.",
            "Every update breaks something else.",
        ),
        "ambiguous": (
            ("The new app version keeps crashing and honestly it would be great if you added an offline mode so it still works (home {N6}).", "feature_request"),
            ("Since the update I can't pair the new {device} anymore, it fails at the last step (home {N6}).", "technical_setup"),
        ),
    },
    "cancellation": {
        "subjects": (
            "Cancel my subscription", "Cancel order", "Close my account", "How do I cancel?",
            "Please cancel", "Stop auto-renewal", "Cancellation request", "Unsubscribe from Plus",
        ),
        "issue": (
            "Please cancel my {plan} subscription (account {N6}) before the next renewal.",
            "I'd like to cancel order #{N7}; I ordered the wrong {product}.",
            "I want to close my Lumora account {N6} completely.",
            "Please turn off auto-renewal for the {plan} plan on account {N6}.",
            "I can't find the cancel button for {plan} in the app (account {N6}).",
            "I placed order #{N7} an hour ago by mistake, please cancel it before it ships.",
        ),
        "detail": (
            "We're moving and won't need the cameras anymore.",
            "I found a cheaper alternative.",
            "I don't use the cloud recordings.",
            "The app says to contact support to cancel.",
            "It's too expensive for what we use.",
        ),
        "ask": (
            "Please confirm the cancellation in writing.",
            "Can you confirm I won't be charged again?",
            "What happens to my recordings after cancelling?",
            "Please confirm once it's done.",
        ),
        "terse": (
            "cancel {plan}, acct {N6}",
            "cancel order {N7} pls",
            "close account {N6}",
            "stop renewal {N6}",
            "how to cancel? {N6}",
        ),
        "nonnative": (
            "I want to stop the subscription {plan}, please do not take more money from me. Account {N6}.",
            "Please make the cancel of my order {N7}, I have ordered by mistake the wrong model.",
            "Kindly close my account {N6} and delete the card also.",
        ),
        "angry": (
            "Why do you make cancelling so hard?",
            "Don't try to sell me a discount, just cancel it.",
            "Hiding the cancel button is a dark pattern.",
        ),
        "ambiguous": (
            ("Cancel my account {N6} and delete all my data and recordings, I don't trust you with them anymore.", "data_privacy"),
            ("I'm cancelling {plan} (account {N6}) because the app is slow and support never answers.", "complaint"),
        ),
    },
    "feature_request": {
        "subjects": (
            "Feature request", "Suggestion", "Would love to see...", "Please add support for...",
            "Idea for the app", "Any plans for this?", "Missing feature",
        ),
        "issue": (
            "It would be great to have {feature}; I'm on {plan} (home {N6}).",
            "Are there any plans to add {feature}? We manage {n_small} properties under account {N6}.",
            "Please consider adding {feature}. Our team account is {N6}.",
            "I'd pay extra for {feature}, honestly (customer {N6}).",
            "Suggestion from a long-time user (account {N6}): {feature}.",
        ),
        "detail": (
            "Most competitors already have this.",
            "It would save me a lot of time every day.",
            "Our whole office would use it.",
            "Right now I use a workaround with shortcuts, but it's clumsy.",
            "I saw a forum thread where many people asked for it too.",
        ),
        "ask": (
            "Is it on the roadmap?",
            "Please pass this on to the product team.",
            "Let me know if you need a beta tester.",
            "Any idea when this could come?",
        ),
        "terse": (
            "pls add {feature} (acct {N6})",
            "feature req: {feature}, home {N6}",
            "any plan for {feature}? {N6}",
        ),
        "nonnative": (
            "It will be very nice if the app have {feature}. My account is {N6}. Please think about it.",
            "I am suggesting to add {feature}, many users in my country want this. Account {N6}.",
        ),
        "angry": (
            "It's ridiculous this still isn't there in {years} years.",
            "I was promised this feature when I bought the hub.",
        ),
        "ambiguous": (
            ("The thermostat can't do schedules by sunset, is that a bug or just missing? Home {N6}.", "bug_report"),
        ),
    },
    "technical_setup": {
        "subjects": (
            "Help setting up hub", "Can't pair device", "Wi-Fi setup fails", "How to connect to Alexa?",
            "Installation question", "Setup help needed", "Doorbell wiring", "Adding a second user",
            "Hub won't connect to 5GHz",
        ),
        "issue": (
            "I'm trying to set up the new {product} (serial LC-{N7}) and the app can't find it.",
            "Pairing the {device} fails at the last step; the hub ID is {N6}.",
            "The Hub 2 won't connect to my Wi-Fi during setup (hub ID {N6}); my router is a mesh system.",
            "How do I connect my Lumora account {N6} to Alexa / Google Home?",
            "I need help wiring the Doorbell Pro (serial LC-{N7}); my old doorbell has only two wires.",
            "How do I add my partner as a second user to home {N6}?",
            "What's the right way to move all devices from my old hub to the new one (new hub {N6})?",
        ),
        "detail": (
            "The light on the device is blinking blue.",
            "I've reset it to factory settings twice.",
            "My router is 2.4 and 5 GHz on the same network name.",
            "The installation guide in the box is different from the app.",
            "I'm not very technical, sorry.",
            "Bluetooth and location are enabled on my phone.",
        ),
        "ask": (
            "What should I try next?",
            "Can you send me step-by-step instructions?",
            "Could someone call me to walk me through it?",
            "Is there a guide for this?",
        ),
        "terse": (
            "cant pair {device}, hub {N6}",
            "setup stuck at 90%, LC-{N7}",
            "how to connect to alexa? acct {N6}",
            "hub wont join wifi, {N6}",
        ),
        "nonnative": (
            "I buy the {product} and I cannot make it connect with the wifi. Serial number LC-{N7}. Please help me how to do.",
            "How I can add my wife as user in the home? Home number {N6}.",
            "The device is blinking but the app is not finding. Hub id {N6}. What I must do?",
        ),
        "angry": (
            "The instructions make no sense.",
            "I've wasted my whole Saturday on this.",
            "Your setup video is for a different model.",
        ),
        "ambiguous": (
            ("The app crashes every time I try to add the {device} to hub {N6}, so I can't finish setup.", "bug_report"),
        ),
    },
    "data_privacy": {
        "subjects": (
            "GDPR data request", "Delete my data", "Privacy question", "Who can see my camera?",
            "Data export", "Request under GDPR Art. 15", "Consent withdrawal", "Security concern",
        ),
        "issue": (
            "Under GDPR I'm requesting a copy of all personal data you hold about me (account {N6}).",
            "Please delete all my personal data and camera recordings (customer {N7}).",
            "Who at Lumora can watch my camera footage? My account is {N6}.",
            "I withdraw my consent for marketing emails and data sharing with partners (account {N6}).",
            "How long do you keep recordings from my cameras on the {plan} plan? Home {N6}.",
            "I received a marketing email at an address I only used for account {N6}. Did you share my data?",
        ),
        "detail": (
            "I'd like the export in a machine-readable format.",
            "This includes data held by your processors.",
            "I've already deleted the app.",
            "I'm asking for my elderly mother, who has the account.",
            "I read your privacy policy and it isn't clear on this.",
        ),
        "ask": (
            "Please confirm within the legal deadline.",
            "Please confirm in writing once it's done.",
            "Can you explain exactly what is stored and where?",
            "Who is your data protection officer?",
        ),
        "terse": (
            "delete my data, acct {N6}",
            "gdpr export pls ({N6})",
            "who sees my camera? {N6}",
        ),
        "nonnative": (
            "I am wanting that you delete all my datas and the videos, account {N6}. Please confirm me.",
            "According to GDPR I request to know which personal information you are keeping of me. Customer {N7}.",
        ),
        "angry": (
            "This is a serious privacy breach.",
            "I'll report you to the data protection authority if I don't hear back.",
        ),
        "ambiguous": (
            ("Close my account {N6} and erase everything you have on me.", "cancellation"),
            ("I got an email saying someone logged into my account {N6} from another country. What data did they see?", "account_access"),
        ),
    },
    "complaint": {
        "subjects": (
            "Very disappointed", "Complaint", "Terrible customer service", "Not happy",
            "Formal complaint", "Unacceptable", "Poor quality", "Your support is useless",
        ),
        "issue": (
            "I've been a customer for {years} years (account {N6}) and the service has gone downhill.",
            "Your agent {staff} was rude to me on the phone today, case {N6}.",
            "I've opened {n_small} tickets about the same thing (latest {N6}) and nobody actually reads them.",
            "The quality of the {product} I got in order #{N7} is nowhere near what you advertise.",
            "Raising prices for {plan} while removing features is disgraceful (account {N6}).",
        ),
        "detail": (
            "Every answer is a copy-paste template.",
            "I've recommended you to friends and now I regret it.",
            "The chat closes before anyone answers.",
            "I expected much better for the price.",
            "Nobody takes responsibility.",
        ),
        "ask": (
            "I want someone senior to look at this.",
            "I expect a proper response this time.",
            "Please pass this on to a manager.",
            "I'm seriously considering switching brands.",
        ),
        "terse": (
            "worst support ever. case {N6}",
            "still no answer, ticket {N6}",
            "very unhappy with order {N7}",
        ),
        "nonnative": (
            "I am very much disappointed with your service. I write {n_small} times and nobody is answering properly. Case {N6}.",
            "The quality of product is very bad and the support person was not polite with me. Order {N7}.",
        ),
        "angry": (
            "Absolutely pathetic.",
            "I've never been treated like this by a company.",
            "You clearly don't care about your customers.",
        ),
        "ambiguous": (
            ("Your support promised a callback about order #{N7} and never called. And I still don't have my money back.", "refund"),
            ("Third time my delivery is late (order #{N7}). I'm done with Lumora.", "shipping_delay"),
        ),
    },
    "praise": {
        "subjects": (
            "Thank you!", "Great service", "Just wanted to say thanks", "Kudos to your team",
            "Love the new update", "Excellent support", "Happy customer",
        ),
        "issue": (
            "Just wanted to say thank you to the agent who helped me with case {N6} yesterday.",
            "The {product} from order #{N7} arrived a day early and setup took five minutes. Impressive!",
            "Big thanks to {staff} for sorting out my account ({N6}) so quickly.",
            "The new app update ({app_ver}) is fantastic; my home ({N6}) has never run smoother.",
            "I've been using Lumora for {years} years (account {N6}) and it keeps getting better.",
        ),
        "detail": (
            "Rare to get such good service these days.",
            "I've already recommended you to two friends.",
            "The new energy graphs are exactly what I wanted.",
            "Keep up the good work.",
        ),
        "ask": (
            "Please pass my thanks on.",
            "No need to reply, just wanted you to know.",
            "Thanks again!",
        ),
        "terse": (
            "great support today, thx! case {N6}",
            "love the app, home {N6}",
            "order {N7} arrived early, thanks!",
        ),
        "nonnative": (
            "Thank you very much for the help, the person was very kind and patient with me. Case {N6}.",
            "I am very happy with the product, it is working perfect since I install. Order {N7}.",
        ),
        "angry": (),
        "ambiguous": (
            ("Love the cameras (home {N6}), but it would be even better with {feature}!", "feature_request"),
        ),
    },
    "other": {
        "subjects": (
            "Partnership inquiry", "Press request", "Job application", "Question", "Collaboration",
            "Do you ship to Iceland?", "Wholesale pricing", "SEO services for your website",
        ),
        "issue": (
            "I'm writing an article about smart-home security and would love a quote from Lumora (ref {N5}).",
            "We're a property management company with {N5} units interested in bulk pricing.",
            "Do you have a physical store in {city}? I'd like to see the cameras before buying (ref {N5}).",
            "I'm applying for the support role posted on your careers page, application {N6}.",
            "We offer guaranteed first-page Google rankings for just {cur}99 a month (offer {N5}).",
            "Is the Lumora Hub 2 made in the EU? Asking for a school project (ref {N5}).",
        ),
        "detail": (
            "I couldn't find the right contact on your website.",
            "Happy to jump on a call.",
            "It's for a university assignment.",
            "We work with several big brands.",
        ),
        "ask": (
            "Who would be the right person to talk to?",
            "Could you forward this to the right department?",
            "Let me know if you're interested.",
        ),
        "terse": (
            "do you ship to iceland? ref {N5}",
            "wholesale price list? {N5}",
            "press contact pls ({N5})",
        ),
        "nonnative": (
            "Hello, we are company from abroad and we want to be distributor of your product in our country. Reference {N5}.",
            "I want to ask if you are having job for students in summer, my application number is {N6}.",
        ),
        "angry": (
            "Third time I'm asking.",
        ),
        "ambiguous": (
            ("Can I get a discount on the {plan} plan if I pay for three years upfront? Account {N6}.", "billing"),
        ),
    },
}

# Shared phrase pools.
_ANGRY_OPEN = (
    "I am extremely frustrated.", "Unbelievable.", "This is ridiculous.", "I'm fed up.",
    "Seriously?", "I've had enough.", "Not happy. At all.", "Again???",
)
_POLITE_OPEN = (
    "I hope this finds you well.", "I'm writing about a problem I've run into.", "Sorry to bother you again.",
    "I hope you can help me with something.", "First of all, thanks for the quick replies last time.",
    "I couldn't find the answer in the help centre, so I'm writing to you.",
)
_TRIED = (
    "I've already tried logging out and back in, restarting my phone and reinstalling the app.",
    "I went through the troubleshooting steps in your help centre, none of them changed anything.",
    "Before writing I also checked the status page, which says all systems are operational.",
    "I've looked through my emails from you and can't find anything that explains this.",
    "My partner had a look as well and couldn't figure it out either.",
)
_ANGRY_HISTORY = (
    "I called on {date}, waited 45 minutes, and was promised a callback that never came.",
    "I already explained all of this to your chat bot and to two different agents, and each time the case was closed without anything being fixed.",
    "Your last email told me it was \"resolved\". It is NOT resolved.",
    "I have been a paying customer for {years} years and I've never been treated this badly by any company.",
    "Every time I contact you I get a different answer and nobody reads what I wrote before.",
)
_ANGRY_CLOSE = (
    "Sort it out.", "I expect an answer TODAY.", "Do better.", "I'm done waiting.",
    "Fix it or I'm leaving a review everywhere.", "Don't send me another template.",
)
_POLITE_THANKS = (
    "Thanks in advance for your help.", "Thank you!", "Much appreciated.", "Thanks for looking into it.",
    "Many thanks.", "I appreciate your help.",
)
_NONNATIVE_CLOSE = (
    "Kindly revert at the earliest.", "Waiting for your positive reply.", "Please do the needful.",
    "Thanking you in advance.", "Hope for your fast answer.",
)
_BACKSTORY = (
    "Bit of background first: we moved into a new flat in {city} a few months ago and I decided to do the whole smart-home thing properly this time, so I bought pretty much everything in one go.",
    "So I've been a Lumora customer for about {years} years now, and mostly I've been happy, which is why I'm a bit surprised to be writing this.",
    "Apologies in advance for the long message, I'm not great at keeping things short and I want to give you the full picture so we don't have to go back and forth.",
    "My elderly father lives alone and we set up the cameras and the motion sensors so I can check on him from work, so this matters more to us than it might seem.",
    "I run a small café in {city} and we use your plugs and cameras in the shop, so when something goes wrong it actually costs me money.",
    "Long story short (well, not that short): I already spoke to someone in chat on {date}, they told me it would be sorted, and then the chat just closed.",
)
_TANGENT = (
    "On a side note, the app has become really slow to open lately, not sure if that's related.",
    "Also, unrelated, but the instructions in the box are tiny and hard to read.",
    "Oh, and I tried calling but the hold music went on for 40 minutes so I gave up.",
    "By the way I think your website's help page about this is outdated, it shows an older version of the app.",
    "I've attached screenshots, hopefully they came through.",
    "My teenage son says I should just \"turn it off and on again\" and yes, I did that.",
)

_GREETINGS: dict[str, tuple[str, ...]] = {
    "polite": ("Hi,", "Hello,", "Hello Lumora team,", "Dear Sir or Madam,", "Hi there!", "Good morning,",
               "Hi support,", "Hey folks,", "Good afternoon,", "Hello there,"),
    "angry": ("", "", "To whom it may concern,", "Hello??", "Support,", "Listen,", "Hi,"),
    "terse": ("", "", "", "hi", "hey", "Hi"),
    "nonnative": ("Dear Team,", "Respected Sir/Madam,", "Hello dear support,", "Good day,", "Dear Sir,"),
    "rambling": ("Hi there,", "Hello,", "Hi Lumora,", "Dear support team,", "Hi! I hope you're well.",
                 "Hello, hope you're having a good day."),
}
_CHAT_GREETINGS = ("", "", "hi", "hello", "hey", "Hi there", "good morning")


# --------------------------------------------------------------------------------------------
# Pool building (once per seed)
# --------------------------------------------------------------------------------------------

_POOL_SLOT_RE = re.compile(r"\{([a-z_]+)\}")


def _fill(text: str, r: random.Random) -> str:
    """Replace pool-time slots like {product}; keep per-ticket slots as \\x00NAME\\x00 markers."""
    text = _SLOT_RE.sub(lambda m: "\x00" + m.group(1) + "\x00", text)
    return _POOL_SLOT_RE.sub(lambda m: _vocab(m.group(1), r), text)


def _vocab(name: str, r: random.Random) -> str:
    if name == "price":
        return f"{r.choice(_VOCAB['cur'])}{r.randint(4, 420)}{r.choice(_VOCAB['cents'])}"
    return r.choice(_VOCAB[name])


def _typos(text: str, r: random.Random) -> str:
    """Introduce a few realistic typos (swapped letters, dropped apostrophes, lowercase i)."""
    words = text.split(" ")
    for _ in range(r.randint(1, 3)):
        k = r.randrange(len(words))
        w = words[k]
        if len(w) > 3 and w.isalpha():
            j = r.randrange(len(w) - 1)
            words[k] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    out = " ".join(words)
    if r.random() < 0.5:
        out = out.replace("'", "")
    if r.random() < 0.4:
        out = re.sub(r"\bI\b", "i", out)
    return out


def _shout(sentences: list[str], r: random.Random) -> list[str]:
    """Put one sentence in ALL CAPS, as angry customers do."""
    k = r.randrange(len(sentences))
    sentences[k] = sentences[k].upper()
    return sentences


def _sample(r: random.Random, pool: tuple[str, ...], k: int) -> list[str]:
    return r.sample(pool, min(k, len(pool)))


def _core(cat: str, tone: str, r: random.Random) -> tuple[str, str | None]:
    """Render one ticket core (body text without greeting/sign-off) and its alternative label."""
    c = _CONTENT[cat]
    alt: str | None = None
    if c["ambiguous"] and tone != "terse" and r.random() < 0.12:
        issue, alt = r.choice(c["ambiguous"])
    else:
        issue = r.choice(c["issue"])
    if tone == "terse":
        text = r.choice(c["terse"])
        if r.random() < 0.3:
            text = text[:1].upper() + text[1:]
        if r.random() < 0.2:
            text += r.choice(("?", "!!", " thx", " asap", "..."))
        return _fill(text, r), None
    if tone == "nonnative":
        if alt is None:
            issue = r.choice(c["nonnative"])
        parts = [issue, *_sample(r, c["detail"], r.randint(0, 1)), r.choice(_NONNATIVE_CLOSE)]
        return _fill(" ".join(parts), r), alt
    details = _sample(r, c["detail"], r.randint(1, 3))
    ask = r.choice(c["ask"])
    if tone == "polite":
        parts = [issue, *details, ask]
        if r.random() < 0.45:
            parts.insert(0, r.choice(_POLITE_OPEN))
        if r.random() < 0.5:
            parts.insert(-1, r.choice(_TRIED))
        if r.random() < 0.6:
            parts.append(r.choice(_POLITE_THANKS))
        if len(parts) >= 4 and r.random() < 0.35:
            cut = r.randint(1, len(parts) - 1)
            text = " ".join(parts[:cut]) + "\n\n" + " ".join(parts[cut:])
        else:
            text = " ".join(parts)
        if r.random() < 0.3:
            text = r.choice(_BACKSTORY) + "\n\n" + text
    elif tone == "angry":
        parts = []
        if r.random() < 0.6:
            parts.append(r.choice(_ANGRY_OPEN))
        parts.append(issue)
        parts += details[:1]
        if r.random() < 0.5:
            parts.append(r.choice(_ANGRY_HISTORY))
        if c["angry"]:
            parts += _sample(r, c["angry"], r.randint(1, 2))
        parts.append(ask)
        if r.random() < 0.6:
            parts.append(r.choice(_ANGRY_CLOSE))
        parts = [_fill(x, r) for x in parts]
        if r.random() < 0.5:
            parts = _shout(parts, r)
        text = " ".join(parts)
        if r.random() < 0.3:
            text = re.sub(r"(?<=[a-z]{3})\. ", "! ", text, count=1)
    else:  # rambling
        back = r.choice(_BACKSTORY)
        mid = " ".join([issue, *_sample(r, c["detail"], r.randint(1, 3)), *_sample(r, _TRIED, r.randint(0, 2))])
        tangents = _sample(r, _TANGENT, 3)
        tail = " ".join([*tangents[:r.randint(1, 2)], ask, r.choice(_POLITE_THANKS)])
        text = back + "\n\n" + mid + "\n\n" + tail
        if r.random() < 0.3:
            text += "\n\nP.S. " + tangents[2]
    text = _fill(text, r)
    if r.random() < 0.15:
        text = _typos(text, r)
    return text, alt


def _person(r: random.Random) -> tuple[str, str, str]:
    """A fake person: (first, last, email at an example.* domain)."""
    first, last = r.choice(_FIRST), r.choice(_LAST)
    local = re.sub(r"[^a-z]", "", _ascii(first).lower()) + r.choice((".", "_", "")) + re.sub(
        r"[^a-z]", "", _ascii(last).lower())
    if r.random() < 0.4:
        local += str(r.randint(1, 99))
    return first, last, f"{local}@{r.choice(_DOMAINS)}"


def _ascii(s: str) -> str:
    table = str.maketrans("éøüáíóñëÉ", "eouaionee")
    return s.translate(table)


def _phone(r: random.Random) -> str:
    """Fictional-range phone numbers (NANP 555-01xx, UK 07700 900xxx, ...)."""
    return r.choice((
        f"+1 (415) 555-01{r.randint(0, 99):02d}",
        f"+1 212-555-01{r.randint(0, 99):02d}",
        f"+44 7700 900{r.randint(0, 999):03d}",
        f"07700 900{r.randint(0, 999):03d}",
        f"+49 30 {r.randint(100000, 999999)}",
        f"+33 6 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}",
    ))


def _iban(r: random.Random) -> str:
    """An IBAN with valid check digits (random bank and account, German or Dutch layout)."""
    if r.random() < 0.5:
        country, bban = "DE", "".join(str(r.randint(0, 9)) for _ in range(18))
    else:
        bank = r.choice(("ABNA", "INGB", "RABO", "TRIO"))
        country, bban = "NL", bank + "".join(str(r.randint(0, 9)) for _ in range(10))
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(digits) % 97
    raw = f"{country}{check:02d}{bban}"
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def _extra(r: random.Random) -> str:
    """A line placed after the core: context, or fake personal data."""
    kind = r.random()
    if kind < 0.55:
        return _fill(r.choice((
            "I'm on the {plan} plan, if that matters.", "I'm using the app on a {phone_model}.", "Phone is on {os}.",
            "Customer for {years} years now.", "We live in {city}.", "I tried on {browser} too.",
            "App version {app_ver}.", "I have {n_small} cameras and a hub.", "This is for our office in {city}.",
        )), r)
    first, last, email = _person(r)
    if kind < 0.75:
        return f"You can reach me at {email} or on {_phone(r)}."
    if kind < 0.85:
        return f"My account email is {email} (the old one was {_person(r)[2]})."
    if kind < 0.95:
        return f"For a bank transfer: {first} {last}, IBAN {_iban(r)}."
    return f"My phone number is {_phone(r)}, call me any time after 5pm."


def _signoff(tone: str, channel: str, r: random.Random) -> str:
    """Closing lines (with the separator before them), by tone and channel."""
    if channel == "chat":
        return r.choice(("", "", "", " thanks", " ty", "\nthx", "\nthanks in advance"))
    first, last, email = _person(r)
    if tone == "terse":
        out = r.choice(("", "", f"\n{first[0]}.", f"\n{first}"))
    elif tone == "angry":
        out = r.choice(("", f"\n\n{first} {last}", f"\n\n{first}", f"\n\n- {first[0]}. {last}",
                        "\n\nSent from my iPhone"))
    elif tone == "nonnative":
        out = r.choice((f"\n\nRegards,\n{first} {last}", f"\n\nThanks and regards,\n{first} {last}",
                        f"\n\nYours faithfully,\n{first} {last}\nMob: {_phone(r)}"))
    elif r.random() < 0.15:
        out = f"\n\nBest regards,\n{first} {last}\n{r.choice(_COMPANIES)}\n{email} | {_phone(r)}"
        if r.random() < 0.6:
            out += "\n\n" + _DISCLAIMER
    else:
        out = r.choice((f"\n\nThanks,\n{first}", f"\n\nBest regards,\n{first} {last}", f"\n\nCheers,\n{first}",
                        f"\n\nKind regards,\n{first} {last}", f"\n\nThank you,\n{first} {last[0]}.",
                        f"\n\n{first}\n\nSent from my iPhone", f"\n\nBest,\n{first}"))
    if channel == "web":
        return out + "\n\n" + _web_footer(r)
    if tone != "terse" and r.random() < 0.45:
        return out + "\n\n" + _quoted_thread(first, r)
    return out


def _web_footer(r: random.Random) -> str:
    """Metadata lines a contact form appends to the message."""
    return (f"---\nSubmitted via the contact form at lumora.example/help\n"
            f"Topic selected: {r.choice(('Orders', 'My account', 'Devices', 'Billing', 'Other', 'App'))}\n"
            f"Browser: {r.choice(_VOCAB['browser'])} {r.randint(110, 131)} on {r.choice(_VOCAB['os'])}\n"
            f"Attachments: {r.choice(('none', 'none', 'screenshot.png', 'IMG_' + str(r.randint(1000, 9999)) + '.jpg'))}")


_DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: This e-mail and any attachments are intended only for the named "
    "recipient and may contain confidential information. If you have received it in error, please "
    "notify the sender and delete it. Please consider the environment before printing this e-mail."
)
_AGENT_LINES = (
    "Thank you for contacting Lumora Support.", "We're sorry to hear about the trouble.",
    "Could you please send us a screenshot of the error and the serial number of the device?",
    "We have escalated this to our specialist team, who will get back to you within 2 business days.",
    "In the meantime, please make sure the app is updated to the latest version.",
    "If there is anything else we can help with, just reply to this email.",
    "We have checked your account and can see the request on our side.",
    "Please allow 5-7 business days for this to be processed.",
)


def _quoted_thread(first: str, r: random.Random) -> str:
    """A quoted earlier reply from support, as e-mail clients add under a response."""
    agent = r.choice(("Sam", "Alex", "Noor", "Jamie", "Ritu", "Marco"))
    body = [f"Hi {first},", "", *_sample(r, _AGENT_LINES, r.randint(3, 5)), "",
            f"Best regards,\n{agent}\nLumora Customer Support"]
    head = r.choice((
        f"On {r.choice(_VOCAB['date'])}, Lumora Support <support@lumora.example> wrote:",
        f"-----Original Message-----\nFrom: Lumora Support <support@lumora.example>\nSent: {r.choice(_VOCAB['date'])}",
    ))
    quoted = "\n".join("> " + line if line else ">" for line in "\n".join(body).split("\n"))
    return head + "\n" + quoted


def _subject(cat: str, tone: str, r: random.Random) -> str:
    s = r.choice(_CONTENT[cat]["subjects"])
    if tone == "angry":
        s = r.choice((s.upper(), s + "!!!", "URGENT: " + s, s + " - AGAIN", s))
    elif tone == "terse":
        s = r.choice((s.lower(), s, s.lower().rstrip("?!.")))
    elif tone == "nonnative":
        s = r.choice(("Regarding " + s.lower().rstrip("?!."), s, "Request: " + s, s))
    if r.random() < 0.08:
        s = "Re: " + s
    if r.random() < 0.04:
        s = "Fwd: " + s
    return s


@dataclass(frozen=True)
class _Pools:
    """Rendered text pools plus the index tables that map (category, tone, channel) to them."""

    cores_pre: list[str]
    cores_post: list[str]
    cores_slot: np.ndarray  # slot kind index per core
    cores_alt: list[str | None]
    core_off: np.ndarray  # [cat * T + tone]
    core_len: np.ndarray
    subjects: list[str]
    subj_off: np.ndarray
    subj_len: np.ndarray
    greetings: list[str]
    greet_off: np.ndarray  # [is_chat * T + tone]
    greet_len: np.ndarray
    extras: list[str]
    signoffs: list[str]
    sign_off: np.ndarray  # [channel * T + tone]
    sign_len: np.ndarray


_CORES_PER_KEY = 160
_SUBJECTS_PER_KEY = 40
_GREETINGS_PER_KEY = 30
_EXTRAS = 1500
_SIGNOFFS_PER_KEY = 250


@lru_cache(maxsize=8)
def _pools(seed: int) -> _Pools:
    r = random.Random(seed)
    T = len(_TONES)
    pre: list[str] = []
    post: list[str] = []
    slot: list[int] = []
    alts: list[str | None] = []
    core_off = np.zeros(len(_CATS) * T, np.int64)
    core_len = np.zeros(len(_CATS) * T, np.int64)
    subjects: list[str] = []
    subj_off = np.zeros(len(_CATS) * T, np.int64)
    subj_len = np.zeros(len(_CATS) * T, np.int64)
    for ci, cat in enumerate(_CATS):
        for ti, tone in enumerate(_TONES):
            key = ci * T + ti
            core_off[key] = len(pre)
            seen: set[str] = set()
            for _ in range(_CORES_PER_KEY * 3):
                text, alt = _core(cat, tone, r)
                if text in seen:
                    continue
                seen.add(text)
                a, name, b = text.split("\x00")
                pre.append(a)
                slot.append(_SLOT_NAMES.index(name))
                post.append(b)
                alts.append(alt)
                if len(seen) == _CORES_PER_KEY:
                    break
            core_len[key] = len(pre) - core_off[key]
            subj_off[key] = len(subjects)
            subjects += [_subject(cat, tone, r) for _ in range(_SUBJECTS_PER_KEY)]
            subj_len[key] = _SUBJECTS_PER_KEY
    greetings: list[str] = []
    signoffs: list[str] = []
    greet_off = np.zeros(2 * T, np.int64)
    greet_len = np.zeros(2 * T, np.int64)
    sign_off = np.zeros(len(_CHANNELS) * T, np.int64)
    sign_len = np.zeros(len(_CHANNELS) * T, np.int64)
    for chat in (0, 1):
        for ti, tone in enumerate(_TONES):
            key = chat * T + ti
            greet_off[key] = len(greetings)
            for _ in range(_GREETINGS_PER_KEY):
                if chat:
                    g = r.choice(_CHAT_GREETINGS)
                    greetings.append(g + (r.choice((", ", "\n", " ")) if g else ""))
                else:
                    g = r.choice(_GREETINGS[tone])
                    greetings.append(g + ("\n\n" if g else ""))
            greet_len[key] = _GREETINGS_PER_KEY
    for hi, channel in enumerate(_CHANNELS):
        for ti, tone in enumerate(_TONES):
            key = hi * T + ti
            sign_off[key] = len(signoffs)
            signoffs += [_signoff(tone, channel, r) for _ in range(_SIGNOFFS_PER_KEY)]
            sign_len[key] = _SIGNOFFS_PER_KEY
    # extras[0] is "no extra line" and is drawn most of the time.
    extras = [""] + [r.choice((" ", "\n\n", " ", "\n")) + _extra(r) for _ in range(_EXTRAS)]
    return _Pools(pre, post, np.array(slot, np.int64), alts, core_off, core_len, subjects, subj_off,
                  subj_len, greetings, greet_off, greet_len, extras, signoffs, sign_off, sign_len)


def _csv_escape(s: str) -> str:
    return s.replace('"', '""')


def _json_escape(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)[1:-1]


_ESCAPERS: dict[str, Callable[[str], str]] = {"raw": str, "csv": _csv_escape, "json": _json_escape}
_POOL_NAMES = ("cores_pre", "cores_post", "subjects", "greetings", "extras", "signoffs")


@lru_cache(maxsize=8)
def _raw(seed: int) -> dict[str, list[str]]:
    """The text pools of ``_pools(seed)`` as plain strings."""
    p = _pools(seed)
    return {name: list(getattr(p, name)) for name in _POOL_NAMES}


@lru_cache(maxsize=16)
def _encoded(seed: int, fmt: str) -> dict[str, list[bytes]]:
    """The text pools escaped for ``fmt`` ("csv" or "json") and encoded as UTF-8 bytes.

    Writers join bytes: a Python str holding any non-Latin-1 character (such as the euro sign)
    is stored at two bytes per character, which made joining and encoding str rows ~8x slower.
    """
    esc = _ESCAPERS[fmt]
    return {name: [esc(x).encode() for x in pool] for name, pool in _raw(seed).items()}


# --------------------------------------------------------------------------------------------
# Drawing tickets (vectorised per chunk)
# --------------------------------------------------------------------------------------------

_CHUNK = 50_000
_START = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)
_SPAN_SECONDS = 365 * 24 * 3600
_EXTRA_P = 0.40  # share of tickets with an extra line after the core
_T = len(_TONES)
_W = np.array([CATEGORY_WEIGHTS[c] for c in _CATS])
_CAT_CUM = np.cumsum(_W / _W.sum())
_TONE_CUM = np.array([np.cumsum(_TONE_P.get(c, _TONE_P_DEFAULT)) for c in _CATS])
_CHAN_CUM = np.array([np.cumsum(_CHANNEL_P[t]) for t in _TONES])
_TIER_CUM = np.cumsum(_TIER_P)
_SLOT_LO = np.array([_SLOTS[s][0] for s in _SLOT_NAMES], np.int64)
_SLOT_SPAN = np.array([_SLOTS[s][1] - _SLOTS[s][0] for s in _SLOT_NAMES], np.int64)


def _sentiment(cat: str, tone: str) -> str:
    if cat == "praise":
        return "positive"
    if cat == "complaint" or tone == "angry":
        return "negative"
    if cat in ("refund", "shipping_delay", "account_access", "bug_report") and tone == "rambling":
        return "negative"
    if cat == "feature_request" and tone == "rambling":
        return "positive"
    return "neutral"


# Sentiment by [category * number of tones + tone].
_SENTIMENT: list[str] = [_sentiment(c, t) for c in _CATS for t in _TONES]


@dataclass
class _Chunk:
    """Drawn pool indices for tickets [start, start + size); copies already carry their
    source's indices, and ``near`` lists the rows whose body is a lightly edited copy."""

    start: int
    cat: list[int]
    tone: list[int]
    channel: list[int]
    tier: list[int]
    core: list[int]
    subject: list[int]
    greeting: list[int]
    extra: list[int]
    signoff: list[int]
    number: list[int]
    created_at: list[bytes]  # "YYYY-MM-DDTHH:MM:SS" (UTC, without the trailing Z)
    near: list[int]
    copies: list[tuple[int, int, bool]]  # (row, row it copies, is a near-duplicate), in-chunk


def _pick(off: np.ndarray, length: np.ndarray, key: np.ndarray, u: np.ndarray) -> np.ndarray:
    return off[key] + (u * length[key]).astype(np.int64)


def _draw_chunk(p: _Pools, seed: int, start: int, size: int, n_total: int,
                dup_fraction: float, near_dup_fraction: float) -> _Chunk:
    """Draw one chunk. Originals are drawn for a full chunk so that, with no duplicates,
    ``generate_tickets(m)`` is a prefix of ``generate_tickets(n)`` for m < n (except created_at,
    which spreads the n tickets over one year)."""
    g = np.random.default_rng([seed, start // _CHUNK])
    u = g.random((11, _CHUNK))[:, :size]
    cat = np.searchsorted(_CAT_CUM, u[0], side="right").clip(0, len(_CATS) - 1)
    tone = (u[1][:, None] > _TONE_CUM[cat]).sum(1).clip(0, _T - 1)
    channel = (u[2][:, None] > _CHAN_CUM[tone]).sum(1).clip(0, len(_CHANNELS) - 1)
    tier = np.searchsorted(_TIER_CUM, u[3], side="right").clip(0, len(_TIERS) - 1)
    key = cat * _T + tone
    core = _pick(p.core_off, p.core_len, key, u[4])
    subject = _pick(p.subj_off, p.subj_len, key, u[5])
    ckey = (channel == 2) * _T + tone
    greeting = _pick(p.greet_off, p.greet_len, ckey, u[6])
    signoff = _pick(p.sign_off, p.sign_len, channel * _T + tone, u[7])
    extra = np.where(u[8] < _EXTRA_P, 1 + (u[8] / _EXTRA_P * _EXTRAS).astype(np.int64).clip(0, _EXTRAS - 1), 0)
    kind = p.cores_slot[core]
    number = _SLOT_LO[kind] + (u[9] * _SLOT_SPAN[kind]).astype(np.int64)
    step = _SPAN_SECONDS / max(n_total, 1)
    secs = ((np.arange(start, start + size) + u[10]) * step).astype(np.int64)
    ts = np.datetime64(_START.replace(tzinfo=None), "s") + secs.astype("timedelta64[s]")
    created = np.datetime_as_string(ts, unit="s").astype("S19").tolist()

    # Copies: an exact count per chunk (cumulative rounding), so totals over chunks are exact.
    n_dup = round(dup_fraction * (start + size)) - round(dup_fraction * start)
    n_near = round(near_dup_fraction * (start + size)) - round(near_dup_fraction * start)
    n_copy = min(n_dup + n_near, size - 1)
    n_near = min(n_near, n_copy)
    near: list[int] = []
    copies: list[tuple[int, int, bool]] = []
    if n_copy > 0:
        dg = np.random.default_rng([seed, start // _CHUNK, 1])
        pos = np.sort(dg.choice(np.arange(1, size), n_copy, replace=False))
        is_near = np.zeros(n_copy, bool)
        is_near[dg.choice(n_copy, n_near, replace=False)] = True
        src_of = (dg.random(n_copy) * pos).astype(np.int64).tolist()
        src = [-1] * size
        for i, j in zip(pos.tolist(), src_of):
            while src[j] >= 0:  # copy an original, not a copy
                j = src[j]
            src[i] = j
        idx = pos
        from_ = np.array([src[i] for i in pos.tolist()], np.int64)
        for arr in (cat, tone, channel, tier, core, subject, greeting, extra, signoff, number):
            arr[idx] = arr[from_]
        near = pos[is_near].tolist()
        copies = [(i, src[i], nr) for i, nr in zip(pos.tolist(), is_near.tolist())]
    return _Chunk(start, cat.tolist(), tone.tolist(), channel.tolist(), tier.tolist(), core.tolist(),
                  subject.tolist(), greeting.tolist(), extra.tolist(), signoff.tolist(), number.tolist(),
                  created, near, copies)


def _chunks(n: int, seed: int, dup_fraction: float, near_dup_fraction: float) -> Iterator[_Chunk]:
    _check_args(n, dup_fraction, near_dup_fraction)
    p = _pools(seed)
    for start in range(0, n, _CHUNK):
        yield _draw_chunk(p, seed, start, min(_CHUNK, n - start), n, dup_fraction, near_dup_fraction)


def _check_args(n: int, dup_fraction: float, near_dup_fraction: float) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise InvalidInput(f"n must be a whole number >= 0, got {n!r}")
    for name, f in (("dup_fraction", dup_fraction), ("near_dup_fraction", near_dup_fraction)):
        if not 0.0 <= f < 0.9:
            raise InvalidInput(f"{name} must be between 0 and 0.9, got {f!r}")
    if dup_fraction + near_dup_fraction >= 0.9:
        raise InvalidInput(
            f"dup_fraction + near_dup_fraction must stay below 0.9, got {dup_fraction + near_dup_fraction}")


# Light edits for near-duplicates: word swaps.
_SWAPS = (
    ("Please", "Pls"), ("please", "plz"), ("Thanks", "Thank you"), ("Hi", "Hello"), ("Hello", "Hi"),
    ("can't", "cannot"), ("I'm", "I am"), ("don't", "do not"), ("still", "STILL"), ("order", "purchase"),
    ("my", "our"), ("help", "assistance"), ("again", "once more"), ("account", "acct"),
)
_SWAP_TO = dict(_SWAPS)
_SWAP_RE = re.compile(r"\b(" + "|".join(re.escape(a) for a, _ in _SWAPS) + r")\b")


def _near_edit(text: str, r: random.Random) -> str:
    """A lightly edited copy: one word changed, punctuation, or casing."""
    for _ in range(6):
        op = r.randrange(6)
        if op == 0:
            hits = list(_SWAP_RE.finditer(text))
            if not hits:
                continue
            m = r.choice(hits)
            out = text[:m.start()] + _SWAP_TO[m.group(1)] + text[m.end():]
        elif op == 1:
            out = text.lower()
        elif op == 2:
            out = text.rstrip(".!? ") + ("!" if text.endswith(".") else ".")
        elif op == 3:
            words = text.split(" ")
            k = r.randrange(len(words))
            out = " ".join(words[:k] + words[k + 1:]) if len(words) > 3 else text + " thanks"
        elif op == 4:
            out = text.replace(",", "", 1) if "," in text else text.replace(" ", "  ", 1)
        else:
            out = text[:1].lower() + text[1:] if text[:1].isupper() else text[:1].upper() + text[1:]
        if out != text:
            return out
    return text + " thx"


def _raw_body(e: dict[str, list[str]], ch: _Chunk, i: int) -> str:
    c = ch.core[i]
    return (e["greetings"][ch.greeting[i]] + e["cores_pre"][c] + str(ch.number[i]) + e["cores_post"][c]
            + e["extras"][ch.extra[i]] + e["signoffs"][ch.signoff[i]])


def _near_bodies(ch: _Chunk, seed: int) -> dict[int, str]:
    """Edited bodies of the near-duplicate rows (plain text), distinct from each other."""
    if not ch.near:
        return {}
    e = _raw(seed)
    r = random.Random(f"{seed}-{ch.start}-near")
    seen: set[str] = set()
    out: dict[int, str] = {}
    for i in ch.near:
        original = _raw_body(e, ch, i)
        edited = _near_edit(original, r)
        while edited in seen or edited == original:  # two edits of one source must not collide
            edited = _near_edit(edited, r)
        seen.add(edited)
        out[i] = edited
    return out


# --------------------------------------------------------------------------------------------
# Public generators and writers
# --------------------------------------------------------------------------------------------

def generate_tickets(n: int, seed: int = 7, *, dup_fraction: float = 0.0,
                     near_dup_fraction: float = 0.0) -> list[dict[str, Any]]:
    """Return ``n`` generated tickets; the same arguments always give the same tickets.

    Keys: external_id ("T-000001"...), subject, body, text (subject, blank line, body),
    category (intended label), alt_category (the other plausible label of an ambiguous ticket,
    else None), channel (email/web/chat), customer_tier, created_at (ISO 8601 UTC), language
    ("en"), sentiment (positive/neutral/negative). ``dup_fraction`` of the rows are exact copies
    of an earlier row (same subject, body, label, channel, tier; new external_id and
    created_at); ``near_dup_fraction`` are copies whose body is lightly edited.
    """
    out: list[dict[str, Any]] = []
    p = _pools(seed)
    e = _raw(seed)
    pre, post, gre, ext, sig, subj = (e["cores_pre"], e["cores_post"], e["greetings"], e["extras"],
                                      e["signoffs"], e["subjects"])
    for ch in _chunks(n, seed, dup_fraction, near_dup_fraction):
        near = _near_bodies(ch, seed)
        for k in range(len(ch.core)):
            c = ch.core[k]
            body = near.get(k) or f"{gre[ch.greeting[k]]}{pre[c]}{ch.number[k]}{post[c]}{ext[ch.extra[k]]}{sig[ch.signoff[k]]}"
            subject = subj[ch.subject[k]]
            out.append({
                "external_id": f"T-{ch.start + k + 1:06d}",
                "subject": subject,
                "body": body,
                "text": f"{subject}\n\n{body}",
                "category": _CATS[ch.cat[k]],
                "alt_category": p.cores_alt[c],
                "channel": _CHANNELS[ch.channel[k]],
                "customer_tier": _TIERS[ch.tier[k]],
                "created_at": ch.created_at[k].decode() + "Z",
                "language": "en",
                "sentiment": _SENTIMENT[ch.cat[k] * _T + ch.tone[k]],
            })
    return out


# --------------------------------------------------------------------------------------------
# Agent replies
# --------------------------------------------------------------------------------------------
# Lumora's policies, which good replies follow: hardware refunds within 30 days; subscriptions
# refunded pro rata within 14 days of a charge; refunds show in 5-10 business days; standard
# shipping 3-5 business days; a lost parcel is replaced free of charge; GDPR requests answered
# within 30 days; staff never ask for passwords.

_REPLY_BODY: dict[str, tuple[str, ...]] = {
    "billing": (
        "I've checked {ref} and I can see the second charge. I've reversed it today; depending on your bank it will show on your statement within 5-10 business days. A corrected invoice is attached to this email.",
        "I've looked into {ref}. The amount is your plan's renewal, including VAT. If the renewal was not what you wanted, I can refund it in full, as it falls within our 14-day window - just reply and I'll do it straight away.",
        "I've updated the billing details on {ref} and issued a new invoice with the correct address and our VAT number. You'll find it under Settings > Billing > Invoices as well.",
    ),
    "refund": (
        "I've issued a full refund for {ref} to your original payment method. Refunds take 5-10 business days to appear, depending on your bank; you'll get a confirmation email with the refund reference.",
        "Our warehouse confirmed they received your return for {ref}, and I've now released the refund. I'm sorry it was held up: it should reach your account within 5-10 business days.",
        "As {ref} is within our 30-day return window, you're entitled to a full refund. I've emailed you a prepaid return label; as soon as the parcel is scanned by the carrier we'll send the money back.",
    ),
    "shipping_delay": (
        "I've checked {ref} with the carrier: the parcel was held at their regional depot and is now moving again, with delivery expected within 2 business days. If it hasn't arrived by then, reply here and I'll send a replacement free of charge.",
        "{ref} shows as delivered, so I've opened a trace with the carrier. Rather than make you wait for the investigation, I've already shipped a replacement by express delivery; you'll receive the tracking link by email today.",
        "I'm sorry, {ref} hasn't left our warehouse yet because one item was out of stock. It's back in stock now and the order ships tomorrow. I've refunded the shipping cost for the delay.",
    ),
    "account_access": (
        "For your security I've sent a one-time verification link to the email address on {ref}. Once you've confirmed it you can choose a new password, and then set up two-factor authentication again under Settings > Security.",
        "I've unlocked {ref} and reset the login attempts. If the reset email still doesn't arrive, please check that messages from lumora.example aren't being filtered, or reply and we can verify your identity another way.",
        "I've signed out all devices on {ref} and temporarily locked it, so nobody else can get in. To regain access, please follow the verification link I've just emailed you; we'll never ask you for your password.",
    ),
    "bug_report": (
        "Thanks for the detailed report on {ref}. This is a known issue in the latest app version on some phones: a fix is in version 6.0.3, which is rolling out this week. Until then, turning off \"Background refresh\" in the app settings avoids the problem.",
        "I've passed your report on {ref} to our engineers, together with the details you gave us. Could you send us the app logs (Settings > Help > Send diagnostics)? That will let them reproduce it quickly.",
        "I've checked {ref} remotely: the device is online, but it is on an old firmware. I've pushed the update to it now; after it restarts (about 5 minutes) it should show correctly in the app.",
    ),
    "cancellation": (
        "I've cancelled the subscription on {ref}. You won't be charged again, and you keep access until the end of the current billing period. Your recordings stay available for 30 days after that.",
        "Your order {ref} has been cancelled before it shipped, and the full amount has been refunded to your payment method. It should show within 5-10 business days.",
        "I've turned off auto-renewal on {ref}, so your plan will simply end at the end of this period. If you change your mind, you can turn it back on in Settings > Subscription.",
    ),
    "feature_request": (
        "Thank you for the suggestion! I've passed it on to our product team and added your vote to the request. I can't promise a date, but we read every request, and you can follow what's planned at lumora.example/roadmap.",
        "That's a great idea, and you're not the only one asking for it. It's on our list for the coming months; I've added {ref} to the list of customers we'll notify when it's available.",
    ),
    "technical_setup": (
        "Here's what usually solves this:\n\n1. Make sure your phone is connected to the 2.4 GHz band of your Wi-Fi during setup.\n2. Hold the reset button for 10 seconds until the light blinks blue.\n3. In the app, tap + > Add device and follow the steps, keeping the phone within 2 metres of the device.\n\nIf it still fails, reply with a screenshot of the last screen and I'll look at {ref} directly.",
        "To add a second user to {ref}, open the app, go to Settings > Home members > Invite, and enter their email address. They'll get an invitation and can join with their own login; you can choose whether they're an admin.",
        "For Alexa or Google Home, open their app, search for the Lumora skill/action, and link it with your Lumora login. Your devices on {ref} will then appear automatically; give them a minute after linking.",
    ),
    "data_privacy": (
        "We've received your request regarding {ref} and will complete it within 30 days, as GDPR requires. You'll get an email with a download link (for an export) or a confirmation (for a deletion) once it's done.",
        "I've checked {ref}: only you and the people you invite to your home can watch your camera footage. Lumora staff cannot access recordings unless you grant temporary access for a support case. Recordings on your plan are kept for 30 days and then deleted.",
        "I've withdrawn all marketing consents on {ref} and stopped any data sharing with partners. It can take up to 48 hours for emails already scheduled to stop. Our data protection officer can be reached at privacy@lumora.example.",
    ),
    "complaint": (
        "I've read through your previous conversations on {ref}, and you're right that we didn't handle this well. I've escalated your case to our customer care manager, who will call you within 2 business days, and I've added a month of your plan free as an apology.",
        "Thank you for telling us. I've shared your feedback about {ref} with the team lead, and I'll personally follow this case until it's resolved. You can reply to me directly instead of opening a new ticket.",
    ),
    "praise": (
        "Thank you so much for taking the time to write! I've shared your message with the whole team - it really made our day.",
        "That's wonderful to hear, thank you! I've passed your kind words on to the colleague who helped you.",
    ),
    "other": (
        "Thanks for reaching out. This inbox handles customer support, so I've forwarded your message to the right team (partners@lumora.example), who will get back to you directly.",
        "Thanks for your question! I've passed it on to the relevant team, who usually reply within a week.",
    ),
}

_WRONG_POLICY: dict[str, tuple[str, ...]] = {
    "billing": ("Charges can't be reversed once processed, so you'll need to contact your bank about this.",
                "Price changes apply automatically and can't be refunded."),
    "refund": ("Unfortunately refunds are only possible within 24 hours of purchase, so we can't refund {ref}.",
               "We only offer store credit, not refunds."),
    "shipping_delay": ("Once a parcel is marked as delivered we're no longer responsible for it; please contact the carrier.",
                       "Delivery can take up to 30 business days, so please wait before contacting us."),
    "account_access": ("Please reply with your current password and date of birth so we can verify the account.",
                       "Locked accounts unlock automatically after 30 days."),
    "bug_report": ("This is expected behaviour and not a bug.",
                   "Please buy a new device; older ones are not supported by the app."),
    "cancellation": ("Subscriptions can only be cancelled by post with three months' notice.",
                     "We can't cancel orders once they're placed."),
    "feature_request": ("We don't take feature requests from customers.",),
    "technical_setup": ("Setup help is only available to Business plan customers.",
                        "The device only works with our own router, which you can buy in our shop."),
    "data_privacy": ("We keep all customer data indefinitely and cannot delete it.",
                     "Our support agents can view camera footage whenever they need to, as stated in our terms."),
    "complaint": ("Our records show nothing went wrong on our side.",),
    "praise": ("Please rate us 5 stars in the app store.",),
    "other": ("We don't answer questions like this.",),
}

_CURT: dict[str, tuple[str, ...]] = {
    "billing": ("Check the billing page in the app.", "The charge is correct."),
    "refund": ("Refund is processing.", "Wait 5-10 days."),
    "shipping_delay": ("Check the tracking link.", "It's on its way."),
    "account_access": ("Use the reset link.", "Reset your password in the app."),
    "bug_report": ("Reinstall the app.", "Restart the device."),
    "cancellation": ("Done.", "You can cancel in the app."),
    "feature_request": ("Noted.", "Not planned."),
    "technical_setup": ("See the manual.", "Factory reset it and try again."),
    "data_privacy": ("See our privacy policy.", "Request received."),
    "complaint": ("Sorry to hear that.", "Noted."),
    "praise": ("Thanks.", "ok"),
    "other": ("Wrong address.", "Not our department."),
}

_EMPATHY = (
    "I'm sorry about the trouble with {ref}, and thank you for your patience.",
    "I completely understand your frustration, and I'm sorry this has taken so long.",
    "Sorry for the inconvenience, and thanks for the clear description.",
    "I'm sorry you've had to contact us about this.",
)
_POSITIVE_OPEN = ("Thanks for getting in touch.", "Thanks for contacting Lumora Support.", "Thank you for your message.")
_AGENTS = ("Sam", "Alex", "Noor", "Jamie", "Ritu", "Marco", "Elif", "Tomasz")
_REF_RE = re.compile(
    r"\b(order|invoice|account|case|RMA|INV|hub|home|serial|ticket|cart|customer|user|reference|ref)\b"
    r"\s*\(?\s*(?:ID|no\.|number)?\s*[-:#]?\s*(?:LC-|INV-|RMA-)?(\d{5,8})\b", re.IGNORECASE)
# Which reply variant fits which ticket: a pattern per variant of _REPLY_BODY (None: fallback).
_REPLY_KEYS: dict[str, tuple[str | None, ...]] = {
    "billing": (r"twice|double|two pending|two times", r"charge|paid|price|renew|recogni[sz]e", r"invoice|address|VAT|card"),
    "refund": (r"damaged|broken|upgraded|mistake|refund of|promised", r"returned|send back|RMA|return", r"want to return|give back|doesn't work|not what"),
    "shipping_delay": (r"transit|supposed to|late|not arrive|waiting|tracking|express|still not", r"delivered", r"shipped|hasn't even"),
    "account_access": (r"password|reset|log ?in|login|logged out", r"locked|block|unlock", r"changed the email|someone|lost my phone|2FA|two-factor|SMS"),
    "bug_report": (r"crash|update|closing itself|notifications|freez", r"schedule|automation|checkout|error|E-1042", r"offline|firmware"),
    "cancellation": (r"subscription|plan|close|renewal|cancel button|stop", r"order", r"renewal"),
    "feature_request": (None, None),
    "technical_setup": (r"pair|connect|wi-?fi|setup|blinking|find|wiring|move all", r"second user|partner|wife|add my", r"alexa|google"),
    "data_privacy": (r"copy|export|delete|erase|GDPR|datas", r"camera|footage|recordings|watch|see", r"consent|marketing|shar"),
    "complaint": (None, None),
    "praise": (None, None),
    "other": (None, None),
}
_NO_REF = {
    "billing": "your account", "refund": "your order", "shipping_delay": "your order", "account_access": "your account",
    "bug_report": "your home", "cancellation": "your account", "feature_request": "your account",
    "technical_setup": "your home", "data_privacy": "your account", "complaint": "your case", "praise": "your case",
    "other": "your message",
}
_FIRST_SET = frozenset(_FIRST)


def _ticket_ref(ticket: Mapping[str, Any]) -> str | None:
    """The first order/account/case number a ticket mentions, as "order #1234567" etc."""
    m = _REF_RE.search(str(ticket.get("body") or ticket.get("text") or ""))
    if not m:
        return None
    word = m.group(1).lower()
    word = {"inv": "invoice", "rma": "return RMA", "ref": "reference", "customer": "account", "user": "account"}.get(word, word)
    return f"{word} #{m.group(2)}" if word == "order" else f"{word} {m.group(2)}"


def _customer_name(ticket: Mapping[str, Any]) -> str | None:
    """The first name the customer signed with, if any (quoted earlier replies are skipped)."""
    body = str(ticket.get("body") or "")
    for cut in ("\n-----Original Message-----", "\nOn ", "\n---\nSubmitted via"):
        k = body.find(cut)
        if k > 0:
            body = body[:k]
    for line in reversed(body.strip().split("\n")[-4:]):
        word = line.strip().split(" ")[0].rstrip(",.") if line.strip() else ""
        if word in _FIRST_SET:
            return word
    return None


def _reply_parts(ticket: Mapping[str, Any], rng: random.Random) -> tuple[str, str, str, str, str]:
    cat = str(ticket.get("category") or "other")
    if cat not in _REPLY_BODY:
        cat = "other"
    ref = _ticket_ref(ticket) or _NO_REF[cat]
    name = _customer_name(ticket)
    greeting = f"Hi {name}," if name else rng.choice(("Hi there,", "Hello,", "Hi,"))
    text = str(ticket.get("body") or ticket.get("text") or "")
    fits = []  # (position of the first keyword, variant): the earliest mention is the main issue
    for variant, key in zip(_REPLY_BODY[cat], _REPLY_KEYS[cat]):
        m = re.search(key, text, re.IGNORECASE) if key else None
        if m:
            fits.append((m.start(), variant))
    body = (min(fits)[1] if fits else rng.choice(_REPLY_BODY[cat])).format(ref=ref)
    return cat, ref, greeting, body[:1].upper() + body[1:], rng.choice(_AGENTS)


def _sign(agent: str, chat: bool) -> str:
    return f"- {agent}" if chat else f"Best regards,\n{agent}\nLumora Customer Support"


def generate_reply(ticket: Mapping[str, Any], rng: random.Random) -> str:
    """A good support reply to ``ticket`` (keys used: category, body, channel, sentiment).

    It greets the customer by name when they signed, apologises when the ticket is a problem,
    refers to the order/account number the ticket gives, follows Lumora's policies, and closes
    with a signature (a short one in chat).
    """
    cat, ref, greeting, body, agent = _reply_parts(ticket, rng)
    chat = ticket.get("channel") == "chat"
    if cat in ("praise", "feature_request", "other"):
        opener = rng.choice(_POSITIVE_OPEN)
    else:
        opener = rng.choice(_EMPATHY).format(ref=ref)
    close = rng.choice(("If there's anything else, just reply to this message.",
                        "Let me know if there's anything else I can help with.",
                        "I hope this helps - reply any time if you have more questions."))
    if chat:
        return f"{greeting} {opener} {body.replace(chr(10) * 2, chr(10))} {close} {_sign(agent, True)}"
    return f"{greeting}\n\n{opener}\n\n{body}\n\n{close}\n\n{_sign(agent, False)}"


_FLAWS = ("curt", "wrong_policy", "no_apology", "off_topic", "asks_again", "blame")


def generate_reply_pair(ticket: Mapping[str, Any], rng: random.Random) -> tuple[str, str]:
    """``(better, worse)`` replies to ``ticket``; the worse one has one realistic flaw: curt, a
    wrong policy, no apology and no specifics, an answer to a different problem, asking again
    for a number the customer already gave, or blaming the customer."""
    better = generate_reply(ticket, rng)
    cat, ref, greeting, body, agent = _reply_parts(ticket, rng)
    chat = ticket.get("channel") == "chat"
    flaws = list(_FLAWS)
    if cat in ("praise", "feature_request", "other"):
        flaws = ["curt", "wrong_policy", "off_topic"]
    elif _ticket_ref(ticket) is None:
        flaws.remove("asks_again")
    flaw = rng.choice(flaws)
    if flaw == "curt":
        worse = rng.choice(_CURT[cat])
    elif flaw == "wrong_policy":
        worse = (f"{greeting}\n\n{rng.choice(_WRONG_POLICY[cat]).format(ref=ref)}\n\n{_sign(agent, chat)}")
    elif flaw == "no_apology":
        generic = re.sub(r"\b(order|account|invoice|case|home|hub|serial|return RMA|reference|cart|ticket) #?\d+",
                         "your request", body)
        worse = f"{generic}\n\n{_sign(agent, chat)}"
    elif flaw == "off_topic":
        other = rng.choice([c for c in _REPLY_BODY if c != cat and c not in ("praise", "other")])
        worse = (f"{greeting}\n\n{rng.choice(_REPLY_BODY[other]).format(ref=_NO_REF[other])}\n\n"
                 f"{_sign(agent, chat)}")
    elif flaw == "asks_again":
        worse = (f"{greeting}\n\nTo look into this we need your order or account number. Please reply "
                 f"with it and describe the problem again.\n\n{_sign(agent, chat)}")
    else:
        worse = (f"{greeting}\n\nThis usually happens when the instructions weren't followed. Please read the "
                 f"help centre carefully before contacting us.\n\n{_sign(agent, chat)}")
    return better, worse


def duplicate_pairs(n: int, seed: int = 7, *, dup_fraction: float = 0.0,
                    near_dup_fraction: float = 0.0) -> dict[str, tuple[str, str]]:
    """Ground truth for dedup benchmarks: external_id of each copied ticket ->
    (external_id of the original it copies, "exact" or "near"), for the tickets that
    ``generate_tickets``/``write_tickets_*`` make with the same arguments."""
    out: dict[str, tuple[str, str]] = {}
    for ch in _chunks(n, seed, dup_fraction, near_dup_fraction):
        for i, j, nr in ch.copies:
            out[f"T-{ch.start + i + 1:06d}"] = (f"T-{ch.start + j + 1:06d}", "near" if nr else "exact")
    return out


@dataclass(frozen=True)
class WrittenFile:
    """What a writer produced."""

    path: Path
    rows: int
    bytes: int


def _atomic_write(path: str | os.PathLike[str], blocks: Iterator[tuple[bytes, int]]) -> WrittenFile:
    target = Path(path)
    if not target.parent.is_dir():
        raise InvalidInput(f"cannot write {target}: folder {target.parent} does not exist")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    rows = 0
    try:
        with open(tmp, "wb") as f:
            for block, count in blocks:
                f.write(block)
                rows += count
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return WrittenFile(target, rows, target.stat().st_size)


_CAT_B = [c.encode() for c in _CATS]
_CHAN_B = [c.encode() for c in _CHANNELS]
_TIER_B = [t.encode() for t in _TIERS]
_CSV_ROW = b'T-%06d,"%s","%s%s%d%s%s%s",%s,%s,%s,%sZ\r\n'
_CSV_ROW_BODY = b'T-%06d,"%s","%s",%s,%s,%s,%sZ\r\n'


def _csv_blocks(n: int, seed: int, dup_fraction: float, near_dup_fraction: float) -> Iterator[tuple[bytes, int]]:
    yield (",".join(CSV_COLUMNS) + "\r\n").encode(), 0
    e = _encoded(seed, "csv")
    pre, post, gre, ext, sig, subj = (e["cores_pre"], e["cores_post"], e["greetings"], e["extras"],
                                      e["signoffs"], e["subjects"])
    cat_b, chan_b, tier_b = _CAT_B, _CHAN_B, _TIER_B
    row = _CSV_ROW
    for ch in _chunks(n, seed, dup_fraction, near_dup_fraction):
        lines = [
            row % (i, subj[sj], gre[g], pre[c], num, post[c], ext[x], sig[so], cat_b[ca], chan_b[h], tier_b[t], ts)
            for i, sj, g, c, num, x, so, ca, h, t, ts in zip(
                range(ch.start + 1, ch.start + len(ch.core) + 1), ch.subject, ch.greeting, ch.core,
                ch.number, ch.extra, ch.signoff, ch.cat, ch.channel, ch.tier, ch.created_at)
        ]
        for k, body in _near_bodies(ch, seed).items():
            lines[k] = _CSV_ROW_BODY % (
                ch.start + k + 1, subj[ch.subject[k]], _csv_escape(body).encode(), cat_b[ch.cat[k]],
                chan_b[ch.channel[k]], tier_b[ch.tier[k]], ch.created_at[k])
        yield b"".join(lines), len(lines)


def _json_formats(include_text: bool) -> tuple[bytes, bytes]:
    """Row formats for JSONL: from pool pieces, and from one whole (escaped) body."""
    tail = (b'"category":"%s","alt_category":%s,"channel":"%s","customer_tier":"%s","created_at":"%sZ",'
            b'"language":"en","sentiment":"%s"}\n')
    if include_text:
        return (b'{"external_id":"T-%06d","subject":"%s","body":"%s%s%d%s%s%s","text":"%s\\n\\n%s%s%d%s%s%s",' + tail,
                b'{"external_id":"T-%06d","subject":"%s","body":"%s","text":"%s\\n\\n%s",' + tail)
    return (b'{"external_id":"T-%06d","subject":"%s","body":"%s%s%d%s%s%s",' + tail,
            b'{"external_id":"T-%06d","subject":"%s","body":"%s",' + tail)


def _jsonl_blocks(n: int, seed: int, dup_fraction: float, near_dup_fraction: float,
                  include_text: bool) -> Iterator[tuple[bytes, int]]:
    e = _encoded(seed, "json")
    pre, post, gre, ext, sig, subj = (e["cores_pre"], e["cores_post"], e["greetings"], e["extras"],
                                      e["signoffs"], e["subjects"])
    alt_b = [b"null" if a is None else b'"%s"' % a.encode() for a in _pools(seed).cores_alt]
    sent_b = [s.encode() for s in _SENTIMENT]
    cat_b, chan_b, tier_b = _CAT_B, _CHAN_B, _TIER_B
    row, row_body = _json_formats(include_text)
    for ch in _chunks(n, seed, dup_fraction, near_dup_fraction):
        ids = range(ch.start + 1, ch.start + len(ch.core) + 1)
        cols = (ids, ch.subject, ch.greeting, ch.core, ch.number, ch.extra, ch.signoff, ch.cat, ch.channel,
                ch.tier, ch.created_at, ch.tone)
        if include_text:
            lines = [
                row % (i, subj[sj], gre[g], pre[c], num, post[c], ext[x], sig[so], subj[sj], gre[g], pre[c], num,
                       post[c], ext[x], sig[so], cat_b[ca], alt_b[c], chan_b[h], tier_b[t], ts, sent_b[ca * _T + o])
                for i, sj, g, c, num, x, so, ca, h, t, ts, o in zip(*cols)
            ]
        else:
            lines = [
                row % (i, subj[sj], gre[g], pre[c], num, post[c], ext[x], sig[so], cat_b[ca], alt_b[c], chan_b[h],
                       tier_b[t], ts, sent_b[ca * _T + o])
                for i, sj, g, c, num, x, so, ca, h, t, ts, o in zip(*cols)
            ]
        for k, body in _near_bodies(ch, seed).items():
            s, b = subj[ch.subject[k]], _json_escape(body).encode()
            ca = ch.cat[k]
            meta = (cat_b[ca], alt_b[ch.core[k]], chan_b[ch.channel[k]], tier_b[ch.tier[k]], ch.created_at[k],
                    sent_b[ca * _T + ch.tone[k]])
            head = (ch.start + k + 1, s, b, s, b) if include_text else (ch.start + k + 1, s, b)
            lines[k] = row_body % (head + meta)
        yield b"".join(lines), len(lines)


def write_tickets_csv(path: str | os.PathLike[str], n: int, seed: int = 7, *, dup_fraction: float = 0.0,
                      near_dup_fraction: float = 0.0) -> WrittenFile:
    """Write ``n`` tickets as RFC 4180 CSV (UTF-8, CRLF line ends, subject and body quoted).

    Header: external_id,subject,body,category,channel,customer_tier,created_at. Rows equal
    ``generate_tickets(n, seed, ...)``. The file appears under its name only when complete.
    """
    return _atomic_write(path, _csv_blocks(n, seed, dup_fraction, near_dup_fraction))


def write_tickets_jsonl(path: str | os.PathLike[str], n: int, seed: int = 7, *, dup_fraction: float = 0.0,
                        near_dup_fraction: float = 0.0, include_text: bool = True) -> WrittenFile:
    """Write ``n`` tickets as JSON Lines (UTF-8), one object per line with the keys of
    ``JSONL_KEYS``, equal to ``generate_tickets(n, seed, ...)``. ``include_text=False`` leaves out
    "text" (subject + body again), which makes files ~45% smaller and faster to write. The file
    appears under its name only when complete."""
    return _atomic_write(path, _jsonl_blocks(n, seed, dup_fraction, near_dup_fraction, include_text))
