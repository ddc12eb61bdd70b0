"""The seven articles the lane puts on the myMoment imitation: invented texts in a pupil's style, not pupils' own."""

from __future__ import annotations

from dataclasses import dataclass

from imitation.mymoment.vocabulary import CATEGORIES, TASKS


@dataclass(frozen=True)
class LaneArticle:
    title: str
    author: str
    category_id: int
    paragraphs: tuple[str, ...]
    task_id: int | None = None

    @property
    def content(self) -> str:
        """The text as the project reads it from the page (paragraphs joined by newlines)."""
        return "\n".join(self.paragraphs)

    @property
    def category(self) -> str:
        return CATEGORIES[self.category_id]

    @property
    def task(self) -> str:
        return TASKS[self.task_id] if self.task_id is not None else ""


ARTICLES: tuple[LaneArticle, ...] = (
    LaneArticle(
        "Der Regenschirm und die Gummistiefel",
        "Lea-S",
        9,
        (
            "Regenschirm: Endlich regnet es wieder! Ich habe den ganzen Sommer im Schrank gewartet.",
            "Gummistiefel: Du hast es gut. Mich hat der kleine Bruder im Sandkasten vergessen.",
            "Regenschirm: Dann komm mit, heute gehen wir beide zur Schule.",
            "Gummistiefel: Nur wenn du mich vor der grossen Pfütze warnst.",
        ),
        task_id=4,
    ),
    LaneArticle(
        "Wie Bienen Honig machen",
        "Timo-R",
        7,
        (
            "Bienen fliegen von Blüte zu Blüte und sammeln dabei süssen Nektar.",
            "Im Bienenstock geben sie den Nektar an andere Bienen weiter, die ihn eindicken.",
            "Die Waben werden mit Wachs verschlossen, damit der Honig lange haltbar bleibt.",
        ),
    ),
    LaneArticle(
        "Warum wir einen Schulgarten brauchen",
        "Ayla-M",
        8,
        (
            "Ein Schulgarten zeigt uns, woher unser Gemüse kommt.",
            "Wenn wir selbst säen und giessen, lernen wir Geduld und Verantwortung.",
            "Darum finde ich: Jede Schule sollte ein kleines Beet haben.",
        ),
    ),
    LaneArticle(
        "Mein Hund Bello",
        "Noah-K",
        7,
        (
            "Mein Hund heisst Bello und er ist drei Jahre alt. Er hat braunes Fell und ganz lange Ohren.",
            "Am liebsten spielt er mit seinem roten Ball im Garten. Wenn ich von der Schule komme, "
            "wartet er schon an der Tür und wedelt mit dem Schwanz.",
        ),
    ),
    LaneArticle(
        "Der Ausflug auf den Berg",
        "Mia-B",
        9,
        (
            "Letzten Samstag sind wir mit der ganzen Familie auf den Pilatus gewandert.",
            "Der Weg war steil und meine Beine waren müde, aber oben hatten wir eine tolle Aussicht.",
            "Wir haben sogar zwei Steinböcke gesehen! Zum Schluss sind wir mit der Zahnradbahn "
            "hinuntergefahren.",
        ),
    ),
    LaneArticle(
        "Das verschwundene Pausenbrot",
        "Luca-F",
        9,
        (
            "Jeden Tag verschwand in unserer Klasse ein Pausenbrot. Niemand wusste, wer der Dieb war.",
            "Wir legten uns auf die Lauer und warteten hinter dem Vorhang.",
            "Plötzlich hörten wir ein Rascheln: Es war ein kleines Eichhörnchen, das durch das offene "
            "Fenster kam!",
        ),
    ),
    LaneArticle(
        "Warum ich gerne lese",
        "Sara-H",
        8,
        (
            "Lesen ist für mich wie eine Reise in eine andere Welt.",
            "Wenn ich ein spannendes Buch habe, vergesse ich die Zeit und lese manchmal bis spät am Abend.",
            "Mein Lieblingsbuch handelt von einem Mädchen, das mit Tieren sprechen kann.",
        ),
    ),
)
