"""The myMoment site's fixed vocabulary (docs/protocol.md#categories-and-tasks): categories, tasks, statuses."""

from __future__ import annotations

CATEGORIES: dict[int, str] = {
    4: "Anleiten",
    14: "Berichten",
    5: "Erklären",
    6: "Fragen",
    7: "Informieren",
    8: "Überzeugen",
    9: "Unterhalten",
}
# Card images are named after the category keyword (umlauts transliterated, as on the site).
CATEGORY_IMAGES: dict[int, str] = {
    4: "anleiten",
    14: "berichten",
    5: "erklaeren",
    6: "fragen",
    7: "informieren",
    8: "ueberzeugen",
    9: "unterhalten",
}
TASKS: dict[int, str] = {
    4: "Fiktionaler Dialog zwischen zwei Gegenständen",
    10: "Wo ist Hugo? (Anleitung schreiben)",
    12: "Storymap: Mehrere Ideen für eine Geschichte",
    13: "Verzweigte Geschichten",
}
ARTICLE_STATUSES = ("entwurf", "lehrpersonenkontrolle", "publiziert")
COMMENT_STATUSES: dict[int, str] = {
    10: "Entwurf",
    11: "Lehrpersonenkontrolle",
    20: "Publiziert",
    30: "Archiviert",
}
