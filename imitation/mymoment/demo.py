"""Demo data for the myMoment imitation: two classes, two pupils, a teacher and three invented articles."""

from __future__ import annotations

from typing import Any

from imitation.mymoment.state import MyMomentState

_DEMO_ARTICLES: list[dict[str, Any]] = [
    {
        "title": "Der Regenschirm und die Gummistiefel",
        "author": "Lea-S",
        "category_id": 9,
        "task_id": 4,
        "created": "2026-02-04T18:04:00",
        "paragraphs": [
            "Regenschirm: Endlich regnet es wieder! Ich habe den ganzen Sommer im Schrank gewartet.",
            "Gummistiefel: Du hast es gut. Mich hat der kleine Bruder im Sandkasten vergessen.",
            "Regenschirm: Dann komm mit, heute gehen wir beide zur Schule.",
            "Gummistiefel: Nur wenn du mich vor der grossen Pfütze warnst.",
            "Regenschirm: Versprochen. Aber ehrlich gesagt springst du doch am liebsten hinein!",
        ],
    },
    {
        "title": "Wie Bienen Honig machen",
        "author": "Timo-R",
        "category_id": 7,
        "task_id": None,
        "created": "2026-03-25T09:15:00",
        "paragraphs": [
            "Bienen fliegen von Blüte zu Blüte und sammeln dabei süssen Nektar.",
            "Im Bienenstock geben sie den Nektar an andere Bienen weiter, die ihn eindicken.",
            "Die Waben werden mit Wachs verschlossen, damit der Honig lange haltbar bleibt.",
            "Ein Bienenvolk braucht viele tausend Flüge für ein einziges Glas Honig.",
        ],
    },
    {
        "title": "Warum wir einen Schulgarten brauchen",
        "author": "Ayla-M",
        "category_id": 8,
        "task_id": None,
        "created": "2026-04-01T10:39:00",
        "paragraphs": [
            "Ein Schulgarten zeigt uns, woher unser Gemüse kommt.",
            "Wenn wir selbst säen und giessen, lernen wir Geduld und Verantwortung.",
            "Ausserdem macht Arbeiten an der frischen Luft einfach gute Laune.",
            "Darum finde ich: Jede Schule sollte ein kleines Beet haben.",
        ],
    },
]


def seed_demo(state: MyMomentState) -> None:
    """Two classes, two pupils and a teacher (password "demo-pass"), three published class articles."""
    state.add_class(82, "Beispielklasse A", "Testschule")
    state.add_class(91, "Beispielklasse B", "Testschule")
    state.add_account("demo-pupil-1", "demo-pass", "pupil", [82])
    state.add_account("demo-pupil-2", "demo-pass", "pupil", [82])
    state.add_account("demo-teacher", "demo-pass", "teacher", [82, 91])
    for spec in _DEMO_ARTICLES:
        state.add_article(class_id=82, status="publiziert", **spec)
