"""Prompt templates: unique names, versions (an edit adds one, the old text stays) and retirement."""

from __future__ import annotations

import shlex

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yourmoment.errors import NotFoundError, ValidationError
from yourmoment.llm.templates import validate_template
from yourmoment.store.limits import check_text
from yourmoment.store.models import (
    AIComment,
    MonitoringProcess,
    ProcessPrompt,
    PromptTemplate,
    PromptTemplateVersion,
    TemplateCategory,
    User,
    utcnow,
)
from yourmoment.store.processes import name_key, normalize_name


def _check_texts(problems: list[str], system_prompt: str, user_prompt_template: str) -> None:
    problems.extend(validate_template(system_prompt, user_prompt_template))
    check_text(problems, "the system prompt", system_prompt, PromptTemplate.system_prompt)
    check_text(
        problems, "the user prompt template", user_prompt_template, PromptTemplate.user_prompt_template
    )


def _same_name(session: Session, user: User | None, name: str) -> PromptTemplate | None:
    """The user's template (a system one, for user None) whose name is `name` under name_key."""
    owner = PromptTemplate.user_id == user.id if user else PromptTemplate.user_id.is_(None)
    key = name_key(name)
    return next(
        (t for t in session.scalars(select(PromptTemplate).where(owner)) if name_key(t.name) == key), None
    )


def _taken(name: str) -> ValidationError:
    return ValidationError(
        [
            f"a template named '{name}' exists already; choose another name, or change that one "
            f"(a new version) with: starter.py template edit {shlex.quote(name)}"
        ]
    )


def add_template(
    session: Session,
    user: User | None,
    name: str,
    system_prompt: str,
    user_prompt_template: str,
    actor: str | None = None,
) -> PromptTemplate:
    """A new template at version 1; a name the user has already (any case or spacing) is refused."""
    name = normalize_name(name)
    problems: list[str] = []
    if not name:
        problems.append("the template needs a name")
    check_text(problems, "the template name", name, PromptTemplate.name)
    _check_texts(problems, system_prompt, user_prompt_template)
    if problems:
        raise ValidationError(problems)
    existing = _same_name(session, user, name)
    if existing is not None:
        raise _taken(existing.name)
    row = PromptTemplate(
        user_id=user.id if user else None,
        name=name,
        system_prompt=system_prompt,
        user_prompt_template=user_prompt_template,
        category=TemplateCategory.USER if user else TemplateCategory.SYSTEM,
        version=1,
    )
    session.add(row)
    try:
        session.flush()  # two commands racing past the name check: the unique index refuses the second
    except IntegrityError as exc:
        if "uq_template_name_per_user" not in str(exc.orig):
            raise
        raise _taken(name) from None
    _record_version(session, row, actor)
    return row


def _record_version(session: Session, template: PromptTemplate, actor: str | None) -> None:
    session.add(
        PromptTemplateVersion(
            template_id=template.id,
            version=template.version,
            system_prompt=template.system_prompt,
            user_prompt_template=template.user_prompt_template,
            created_by=actor,
        )
    )
    session.flush()


def seed_system_templates(session: Session) -> int:
    """Adds the German SYSTEM templates that are missing (by name); returns how many were added."""
    from yourmoment.llm.system_templates import SYSTEM_TEMPLATES

    existing = {
        name_key(name)
        for name in session.scalars(
            select(PromptTemplate.name).where(PromptTemplate.category == TemplateCategory.SYSTEM)
        )
    }
    added = 0
    for tpl in SYSTEM_TEMPLATES:
        if name_key(tpl.name) not in existing:
            add_template(session, None, tpl.name, tpl.system_prompt, tpl.user_prompt_template)
            added += 1
    return added


def list_templates(session: Session, user: User) -> list[PromptTemplate]:
    """The user's own templates and the shared SYSTEM ones, retired ones included."""
    return list(
        session.scalars(
            select(PromptTemplate)
            .where(
                PromptTemplate.is_active,
                (PromptTemplate.user_id == user.id) | (PromptTemplate.category == TemplateCategory.SYSTEM),
            )
            .order_by(PromptTemplate.category, PromptTemplate.name)
        )
    )


def find_template(session: Session, user: User, ref: str) -> PromptTemplate | None:
    """One of the user's templates or a system one, by id or name (any case or spacing); the user's own
    wins over a system template of the same name."""
    templates = list_templates(session, user)
    by_id = next((t for t in templates if t.id == ref.strip()), None)
    if by_id is not None:
        return by_id
    key = name_key(ref)
    named = [t for t in templates if name_key(t.name) == key]
    return next((t for t in named if t.category == TemplateCategory.USER), named[0] if named else None)


def get_template(session: Session, user: User, ref: str) -> PromptTemplate:
    template = find_template(session, user, ref)
    if template is None:
        raise NotFoundError(f"no template '{ref}'; see 'starter.py template list'")
    return template


def own_template(session: Session, user: User, ref: str, verb: str) -> PromptTemplate:
    """One of the user's own templates: system templates are shared and stay as shipped."""
    template = get_template(session, user, ref)
    if template.category == TemplateCategory.SYSTEM:
        raise ValidationError(
            [
                f"'{template.name}' is a shared system template and cannot be {verb}; copy it with "
                "'starter.py template add NAME --system-file F --user-file F' and change the copy"
            ]
        )
    return template


def edit_template(
    session: Session, user: User, ref: str, system_prompt: str, user_prompt_template: str
) -> tuple[PromptTemplate, bool]:
    """The new text as the next version (the old one stays for the comments made with it); False when
    the text is unchanged and no version was added."""
    template = own_template(session, user, ref, "edited")
    problems: list[str] = []
    _check_texts(problems, system_prompt, user_prompt_template)
    if problems:
        raise ValidationError(problems)
    if (system_prompt, user_prompt_template) == (template.system_prompt, template.user_prompt_template):
        return template, False
    template.system_prompt = system_prompt
    template.user_prompt_template = user_prompt_template
    template.version += 1
    _record_version(session, template, user.email)
    return template, True


def retire_template(session: Session, user: User, ref: str) -> tuple[PromptTemplate, bool]:
    """Offered to no new process from now on; False when it was retired already."""
    template = own_template(session, user, ref, "retired")
    if template.retired_at is not None:
        return template, False
    template.retired_at = utcnow()
    session.flush()
    return template, True


def versions(session: Session, template_id: str) -> list[PromptTemplateVersion]:
    query = select(PromptTemplateVersion).where(PromptTemplateVersion.template_id == template_id)
    return list(session.scalars(query.order_by(PromptTemplateVersion.version)))


def version_of(session: Session, template: PromptTemplate, number: int) -> PromptTemplateVersion:
    found = session.scalar(
        select(PromptTemplateVersion).where(
            PromptTemplateVersion.template_id == template.id, PromptTemplateVersion.version == number
        )
    )
    if found is None:
        raise ValidationError(
            [f"template '{template.name}' has no version {number} (versions 1 to {template.version})"]
        )
    return found


def processes_using(session: Session, template_id: str) -> list[str]:
    """The names of the processes that have this template, sorted."""
    query = (
        select(MonitoringProcess.name)
        .join(ProcessPrompt, ProcessPrompt.process_id == MonitoringProcess.id)
        .where(ProcessPrompt.template_id == template_id)
    )
    return sorted(session.scalars(query), key=str.lower)


def comments_made(session: Session, template_id: str) -> dict[int, int]:
    """How many comments each version of the template made (version → count; None: unknown)."""
    query = (
        select(AIComment.prompt_template_version, func.count())
        .where(AIComment.prompt_template_id == template_id, AIComment.comment_html.is_not(None))
        .group_by(AIComment.prompt_template_version)
    )
    return {version or 0: count for version, count in session.execute(query)}
