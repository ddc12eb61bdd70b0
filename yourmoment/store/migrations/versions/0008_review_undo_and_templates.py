"""numbered comment versions (undo), template versions and retirement, unique template names

Revision ID: 0008_review_undo_and_templates
Revises: 0007_article_comment_cap

`comment_events.version`: each generated, edited or regenerated text is the comment's next version
(1 = the model's first text), and a restore names the version it brought back. Existing histories are
numbered; a comment generated before histories were kept (0006) gets its first text recorded as a
`generated` event, so `comments restore ID --version 1` reaches it too.
`prompt_template_versions`: every text a template had (`template edit` adds one); each existing
template's current text is recorded as its current version.
`prompt_templates.retired_at`: a retired template is offered to no new process.
Template names become unique per user (system templates among themselves), spacing, Unicode forms
and case ignored, as process names are (0004): the oldest keeps its name, each later duplicate gets
the first free " (n)" suffix, and every rename is printed to stderr.
"""

import sys
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_review_undo_and_templates"
down_revision: str | None = "0007_article_comment_cap"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME_LENGTH = 200
TEXT_KINDS = ("generated", "edited", "regenerated")
FIRST_TEXT_NOTE = "recorded when the history was numbered (generated before histories were kept)"


def _normalize(name: str) -> str:
    """As yourmoment/store/processes.py normalize_name (a migration keeps its own copy)."""
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", name) if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


def _key(name: str) -> str:
    return _normalize(name).lower()


def _free_name(base: str, taken: set[str]) -> str:
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = base[: NAME_LENGTH - len(suffix)] + suffix
        if _key(candidate) not in taken:
            return candidate
        n += 1


TEMPLATES = sa.table(
    "prompt_templates",
    sa.column("id"),
    sa.column("user_id"),
    sa.column("name"),
    sa.column("system_prompt"),
    sa.column("user_prompt_template"),
    sa.column("version"),
    sa.column("created_at"),
)
VERSIONS = sa.table(
    "prompt_template_versions",
    sa.column("template_id"),
    sa.column("version"),
    sa.column("system_prompt"),
    sa.column("user_prompt_template"),
    sa.column("created_by"),
    sa.column("created_at"),
)
ITEMS = sa.table(
    "ai_comments",
    sa.column("id"),
    sa.column("comment_html"),
    sa.column("original_html"),
    sa.column("generated_at"),
    sa.column("created_at"),
)
EVENTS = sa.table(
    "comment_events",
    sa.column("id"),
    sa.column("item_id"),
    sa.column("kind"),
    sa.column("comment_html"),
    sa.column("detail"),
    sa.column("version"),
    sa.column("created_at"),
)


def _rename_duplicate_templates(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(TEMPLATES.c.id, TEMPLATES.c.user_id, TEMPLATES.c.name).order_by(
            TEMPLATES.c.created_at, TEMPLATES.c.id
        )
    ).all()
    taken: dict[str, set[str]] = {}
    later: list[tuple[str, str, str]] = []
    for template_id, user_id, name in rows:
        owner = user_id or ""
        if _key(name) in taken.setdefault(owner, set()):
            later.append((template_id, owner, name))
            continue
        taken[owner].add(_key(name))
        if name != _normalize(name):
            conn.execute(
                TEMPLATES.update().where(TEMPLATES.c.id == template_id).values(name=_normalize(name))
            )
    # Every kept name is reserved first, so a rename never takes a name an older template has.
    for template_id, owner, name in later:
        new_name = _free_name(_normalize(name), taken[owner])
        taken[owner].add(_key(new_name))
        conn.execute(TEMPLATES.update().where(TEMPLATES.c.id == template_id).values(name=new_name))
        print(
            f"renamed template {template_id} '{name.strip()}' to '{new_name}': template names are unique "
            "per user ('starter.py template list' shows them)",
            file=sys.stderr,
        )


def _record_template_versions(conn: sa.Connection) -> None:
    for row in conn.execute(sa.select(TEMPLATES)).all():
        conn.execute(
            VERSIONS.insert().values(
                template_id=row.id,
                version=row.version or 1,
                system_prompt=row.system_prompt,
                user_prompt_template=row.user_prompt_template,
                created_by=None,
                created_at=row.created_at,
            )
        )


def _number_comment_versions(conn: sa.Connection) -> None:
    text_events: dict[str, list[tuple[int, str]]] = {}
    for event_id, item_id, kind in conn.execute(
        sa.select(EVENTS.c.id, EVENTS.c.item_id, EVENTS.c.kind)
        .where(EVENTS.c.kind.in_(TEXT_KINDS))
        .order_by(EVENTS.c.item_id, EVENTS.c.created_at, EVENTS.c.id)
    ):
        text_events.setdefault(item_id, []).append((event_id, kind))
    items = conn.execute(
        sa.select(ITEMS).where(sa.or_(ITEMS.c.comment_html.is_not(None), ITEMS.c.original_html.is_not(None)))
    ).all()
    for item in items:
        events = text_events.get(item.id, [])
        number = 1
        if not events or events[0][1] != "generated":
            conn.execute(
                EVENTS.insert().values(
                    item_id=item.id,
                    kind="generated",
                    comment_html=item.original_html or item.comment_html,
                    detail=FIRST_TEXT_NOTE,
                    version=1,
                    created_at=item.generated_at or item.created_at,
                )
            )
            number = 2
        for event_id, _kind in events:
            conn.execute(EVENTS.update().where(EVENTS.c.id == event_id).values(version=number))
            number += 1


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode (see 0006): a batch copy would lose the expression indexes.
    op.add_column("comment_events", sa.Column("version", sa.Integer(), nullable=True))
    op.add_column("prompt_templates", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "prompt_template_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "template_id",
            sa.String(36),
            sa.ForeignKey("prompt_templates.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("user_prompt_template", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("template_id", "version", name="uq_template_version"),
    )
    op.create_index("ix_prompt_template_versions_template_id", "prompt_template_versions", ["template_id"])
    conn = op.get_bind()
    _rename_duplicate_templates(conn)
    _record_template_versions(conn)
    _number_comment_versions(conn)
    op.create_index(
        "uq_template_name_per_user",
        "prompt_templates",
        [sa.text("coalesce(user_id, '')"), sa.text("lower(name)")],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_template_name_per_user", table_name="prompt_templates")
    op.drop_index("ix_prompt_template_versions_template_id", table_name="prompt_template_versions")
    op.drop_table("prompt_template_versions")
    with op.batch_alter_table("prompt_templates") as batch:
        batch.drop_column("retired_at")
    with op.batch_alter_table("comment_events") as batch:
        batch.drop_column("version")
