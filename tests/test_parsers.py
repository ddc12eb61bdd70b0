"""myMoment page parsers against the real-site captures (when present) and small inline pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import TABS_OF_CLASSES_82_AND_91
from yourmoment.comment_rules import DISCLOSURE
from yourmoment.errors import NotFoundError, PageParseError
from yourmoment.mymoment import parsers
from yourmoment.mymoment.types import ArticleDetail, ExistingComment

BASE = "https://www.mymoment.ch"
CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "mymoment" / "captures"


def capture(name: str) -> str:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"capture {name} not found in {CAPTURES}")
    return path.read_text(encoding="utf-8")


# --- captures -----------------------------------------------------------------------------------


def test_capture_tabs() -> None:
    tabs = parsers.parse_tabs(capture("articles_index.html"))
    assert [(t.id, t.kind) for t in tabs] == TABS_OF_CLASSES_82_AND_91
    assert tabs[0].name == "Meine"
    assert tabs[1].name == "Beispielklasse A (Testschule)"


def test_capture_home_card() -> None:
    items = parsers.parse_article_list(capture("articles_index.html"), "home", BASE)
    assert len(items) == 1
    first = items[0]
    assert (first.id, first.title, first.author, first.status) == (
        "4501",
        "Beispieltext Zuhause 01",
        "SampleAuthor10",
        "Publiziert",
    )
    assert first.visibility == "Beispielklasse A (Testschule)"
    assert first.date == "4. Februar 2026"
    assert first.url == f"{BASE}/article/4501/"


def test_capture_every_pane_is_read_separately() -> None:
    html = capture("articles_index.html")
    assert [a.id for a in parsers.parse_article_list(html, "82", BASE)] == ["4601", "4602", "4603"]
    assert [a.id for a in parsers.parse_article_list(html, "91", BASE)] == ["4701", "4702", "4703"]
    everyone = parsers.parse_article_list(html, "alle", BASE)
    assert [a.title for a in everyone][-1] == "Der Rotpanda"
    assert {a.visibility for a in everyone} == {"Alle"}


def test_capture_search_is_case_insensitive_and_applied_before_limit() -> None:
    html = capture("articles_index.html")
    found = parsers.parse_article_list(html, "91", BASE, search="KLASSE b 03", limit=1)
    assert [a.id for a in found] == ["4703"]
    assert len(parsers.parse_article_list(html, "82", BASE, limit=2)) == 2
    assert parsers.parse_article_list(html, "82", BASE, search="rotpanda") == []


def test_capture_article_detail() -> None:
    detail = parsers.parse_article_detail(capture("articles_get.html"), "4601", BASE)
    assert (detail.title, detail.author) == ("Beispieldialog", "SampleAuthor01")
    assert (detail.category, detail.category_id) == ("Informieren", 7)
    assert (detail.task, detail.task_id) == ("Fiktionaler Dialog zwischen zwei Gegenständen", 4)
    lines = detail.content.split("\n")
    assert len(lines) == 14
    assert lines[0].startswith("1: Hallo, ist hier jemand?")
    assert detail.raw_html.startswith('<div class="article">')
    assert "<textarea" not in detail.raw_html
    assert "highlight-target" in detail.raw_html
    assert detail.url == f"{BASE}/article/4601/"


def test_capture_hidden_ai_comment() -> None:
    detail = parsers.parse_article_detail(capture("articles_get.html"), "4601", BASE)
    assert len(detail.comments) == 1
    comment = detail.comments[0]
    assert comment.author == "SampleReviewer01"
    assert comment.hidden is True
    assert parsers.html_to_plain(comment.text).startswith(DISCLOSURE)
    assert comment.text.startswith("<p>")
    assert parsers.own_ai_comments(detail, "samplereviewer01", DISCLOSURE) == [comment]
    assert parsers.own_ai_comments(detail, "SampleUser", DISCLOSURE) == []


def test_capture_csrf_and_session_markers() -> None:
    article = capture("articles_get.html")
    assert parsers.find_comment_csrf(article, "4601") == "TEST_CSRF_TOKEN"
    # The capture was taken as another id; the fallback still finds a comment form (see docs/protocol.md#comment-form-and-post).
    assert parsers.find_comment_csrf(article, "3170") == "TEST_CSRF_TOKEN"
    assert parsers.is_logged_in(article)
    assert parsers.logged_in_username(article) == "SampleUser"
    assert not parsers.is_login_page(f"{BASE}/article/4601/", article)

    login = capture("accounts_login.html")
    assert not parsers.is_logged_in(login)
    assert parsers.logged_in_username(login) is None
    assert parsers.is_login_page(f"{BASE}/", login)
    assert parsers.find_form_csrf(login) == "TEST_CSRF_TOKEN"
    assert parsers.find_comment_csrf(login, "4601") is None
    with pytest.raises(PageParseError):
        parsers.parse_article_list(login, "home", BASE)


def test_capture_profile_username() -> None:
    assert parsers.logged_in_username(capture("profile.html")) == "SampleUser"


# --- inline pages -------------------------------------------------------------------------------

LOGOUT_FORM = (
    '<form action="/accounts/logout/" method="post"><input name="csrfmiddlewaretoken" value="T1"></form>'
)

TEACHER_PAGE = f"""<html><head><title>myMoment | teacher1</title></head><body>{LOGOUT_FORM}
<ul class="nav nav-pills" id="pills-tab" role="tablist">
  <li><button role="tab" data-bs-target="#pills-82" id="82">Klasse 5a (Schule)</button></li>
  <li><button role="tab" data-bs-target="#pills-alle" id="alle">Alle</button></li>
  <li><button role="tab" data-bs-target="#other">ignored</button></li>
</ul>
<div class="tab-content">
 <div class="tab-pane fade show active" id="pills-82" role="tabpanel">
  <div class="table-responsive"><table class="table data-table">
   <thead><tr><th>Titel</th><th>Autor</th><th>Klasse</th><th>Kategorie</th><th>Aufgabe</th><th>Status</th><th>Datum</th></tr></thead>
   <tbody>
    <tr><td><a href="/article/120/">Mein Hund</a></td><td>pupil1</td><td>Klasse 5a (Schule)</td>
        <td><ul><li>Informieren</li></ul></td><td><ul></ul></td><td>Publiziert</td><td>04.02.2026 um 18:04 Uhr</td></tr>
    <tr><td><a href="/article/edit/121/">Ferien am Meer</a></td><td>pupil2</td><td>Klasse 5a (Schule)</td>
        <td><ul><li>Berichten</li></ul></td><td><ul></ul></td><td>Entwurf</td><td>03.02.2026 um 09:00 Uhr</td></tr>
    <tr><td><a href="/article/122/">zu kurz</a></td><td>pupil3</td></tr>
   </tbody>
  </table></div>
 </div>
 <div class="tab-pane fade" id="pills-alle" role="tabpanel"></div>
</div></body></html>"""


def test_teacher_table_view() -> None:
    tabs = parsers.parse_tabs(TEACHER_PAGE)
    assert [(t.id, t.kind, t.name) for t in tabs] == [
        ("82", "class", "Klasse 5a (Schule)"),
        ("alle", "alle", "Alle"),
    ]
    rows = parsers.parse_article_list(TEACHER_PAGE, "82", BASE)
    assert [(r.id, r.title, r.author, r.status, r.date) for r in rows] == [
        ("120", "Mein Hund", "pupil1", "Publiziert", "04.02.2026 um 18:04 Uhr"),
        ("121", "Ferien am Meer", "pupil2", "Entwurf", "03.02.2026 um 09:00 Uhr"),
    ]
    assert rows[1].url == f"{BASE}/article/121/"
    assert rows[0].visibility == "Klasse 5a (Schule)"
    assert [r.id for r in parsers.parse_article_list(TEACHER_PAGE, "82", BASE, search="HUND")] == ["120"]
    assert parsers.logged_in_username(TEACHER_PAGE) == "teacher1"


def test_present_but_empty_pane_means_no_articles() -> None:
    assert parsers.parse_article_list(TEACHER_PAGE, "alle", BASE) == []


def test_missing_pane_with_tabs_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="'91'"):
        parsers.parse_article_list(TEACHER_PAGE, "91", BASE)


def test_unrecognised_pages_are_errors_not_empty_lists() -> None:
    with pytest.raises(PageParseError):
        parsers.parse_article_list("<html><body><p>Wartung</p></body></html>", "home", BASE)
    with pytest.raises(PageParseError):
        parsers.parse_tabs("<html><body></body></html>")
    with pytest.raises(PageParseError, match="h1"):
        parsers.parse_article_detail(
            f"<html><body>{LOGOUT_FORM}<div class='article'></div></body></html>", "5", BASE
        )
    with pytest.raises(PageParseError, match="article body"):
        parsers.parse_article_detail("<html><body><h1>X von Y</h1></body></html>", "5", BASE)


def test_card_without_article_link_is_skipped() -> None:
    page = """<ul id="pills-tab"></ul><div id="pills-home"><div class="row article-list">
      <div class="col-lg-4"><a href="/help/"><div class="card"><div class="article-title">Hilfe</div></div></a></div>
      <div class="col-lg-4"><a href="/article/9/"><div class="card"><div class="card-header entwurf"></div>
        <div class="card-footer"><div class="article-title"><strong>Neu</strong></div></div></div></a></div>
    </div></div>"""
    items = parsers.parse_article_list(page, "home", BASE)
    assert [(i.id, i.title, i.status, i.author) for i in items] == [("9", "Neu", "Entwurf", "Unknown Author")]


def detail_page(h1: str, items: list[str], comments: str = "") -> str:
    lis = "".join(f'<li class="list-group-item">{item}</li>' for item in items)
    return f"""<html><body>{LOGOUT_FORM}<h1>{h1}</h1><ul class="social list-group">{lis}
      <li class="list-group-item">Likes: 3</li></ul>
      <div class="article"><div class="highlight-target"><p> Erster   Satz. </p><p></p><p>Zweiter</p></div>
      <textarea id="text-to-speech">x</textarea></div>
      <form action="/article/77/comment/" id="comment-create"><input name="csrfmiddlewaretoken" value="C77"></form>
      <form action="/article/78/comment/"><input name="csrfmiddlewaretoken" value="C78"></form>
      {comments}
      <h1 class="modal-title">Beitrag publizieren</h1></body></html>"""


def test_detail_title_with_von_and_new_tasks() -> None:
    page = detail_page(
        "Die Reise von Bern nach Basel von pupil_7",
        ["Kategorie: Berichten", "Aufgabe: Verzweigte Geschichten"],
    )
    detail = parsers.parse_article_detail(page, "77", BASE)
    assert (detail.title, detail.author) == ("Die Reise von Bern nach Basel", "pupil_7")
    assert (detail.category_id, detail.task_id) == (14, 13)
    assert detail.content == "Erster Satz.\nZweiter"
    assert detail.comments == []


def test_detail_task_12_and_unknown_names() -> None:
    storymap = parsers.parse_article_detail(
        detail_page("A von b", ["Aufgabe: Storymap: Mehrere Ideen für eine Geschichte"]), "77", BASE
    )
    assert (storymap.category, storymap.task_id) == (None, 12)
    unknown = parsers.parse_article_detail(detail_page("Ohne Autor", ["Kategorie: Dichten"]), "77", BASE)
    assert (unknown.category, unknown.category_id) == ("Dichten", None)
    assert (unknown.title, unknown.author) == ("Ohne Autor", "Unknown Author")


def test_detail_body_falls_back_to_text_to_speech() -> None:
    page = """<html><body><h1>T von a</h1><div class="article"><div class="highlight-target"><figure></figure></div>
      <textarea id="text-to-speech">Zeile eins
Zeile zwei</textarea></div></body></html>"""
    assert parsers.parse_article_detail(page, "1", BASE).content == "Zeile eins\nZeile zwei"


def test_comment_form_token_prefers_the_article() -> None:
    page = detail_page("A von b", [])
    assert parsers.find_comment_csrf(page, "78") == "C78"
    assert parsers.find_comment_csrf(page, "77") == "C77"
    assert parsers.find_comment_csrf(page, "999") == "C77"  # first comment form as fallback
    assert parsers.find_form_csrf(page) == "T1"


VISIBLE_AND_HIDDEN = f"""
<div class="comment"><div class="card"><div class="card-body"><h5 class="card-title d-flex">von bot_login</h5>
  <span class="card-text"><p>{DISCLOSURE}</p>
  <p>Du   erzählst <strong>spannend</strong>.</p></span></div></div></div>
<div class="comment"><div class="card"><div class="card-body"><h5 class="card-title">von teacher</h5>
  <span class="card-text d-none"><p>Danke!</p></span><button class="btn comment-show">Kommentar anzeigen</button></div></div></div>"""


def test_visible_and_hidden_comments() -> None:
    detail = parsers.parse_article_detail(detail_page("A von b", [], VISIBLE_AND_HIDDEN), "77", BASE)
    assert [(c.author, c.hidden) for c in detail.comments] == [("bot_login", False), ("teacher", True)]
    assert detail.comments[1].text == "<p>Danke!</p>"


def test_find_own_comment_matches_plain_text_only_for_this_login() -> None:
    detail = parsers.parse_article_detail(detail_page("A von b", [], VISIBLE_AND_HIDDEN), "77", BASE)
    ours = f"<p>{DISCLOSURE}</p><p>Du erzählst <strong>spannend</strong>.</p>"
    assert parsers.find_own_comment(detail, "BOT_login", ours, DISCLOSURE) == detail.comments[0]
    assert parsers.find_own_comment(detail, "teacher", ours, DISCLOSURE) is None
    assert (
        parsers.find_own_comment(detail, "bot_login", f"<p>{DISCLOSURE}</p><p>Anders.</p>", DISCLOSURE)
        is None
    )


def test_own_comment_without_prefix_does_not_count() -> None:
    detail = ArticleDetail(
        id="1",
        title="t",
        author="a",
        category=None,
        category_id=None,
        task=None,
        task_id=None,
        content="",
        raw_html="",
        url=f"{BASE}/article/1/",
        comments=[ExistingComment(author="bot", text="<p>Super Text!</p>", hidden=False)],
    )
    assert parsers.own_ai_comments(detail, "bot", DISCLOSURE) == []
    assert parsers.find_own_comment(detail, "bot", "<p>Super Text!</p>", DISCLOSURE) is None


def test_logout_form_action_must_match_exactly() -> None:
    assert not parsers.is_logged_in('<form action="/accounts/logout/?next=/"></form>')
    assert not parsers.is_logged_in('<a href="/accounts/logout/">Abmelden</a>')
    assert parsers.is_logged_in(LOGOUT_FORM)


def test_login_page_by_url_or_by_password_form() -> None:
    assert parsers.is_login_page(f"{BASE}/accounts/login/?next=/articles/", "<html></html>")
    assert parsers.is_login_page(f"{BASE}/", '<form method="post"><input name="password"></form>')
    assert not parsers.is_login_page(f"{BASE}/", f"{LOGOUT_FORM}<input name='password'>")


def test_plain_text_comparison_ignores_markup_and_whitespace() -> None:
    assert parsers.html_to_plain("<p>a</p>\n<p>b  <em>c</em></p>") == "a b c"
    assert parsers.same_text("<p>Hallo</p><p>Welt</p>", "<p>Hallo</p>\n  <p>Welt</p>")
    assert not parsers.same_text("<p>Hallo</p>", "<p>Hallo!</p>")
