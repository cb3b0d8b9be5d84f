"""Accounts."""

from __future__ import annotations

from sqlmodel import Session, func, select

from storage.models import Account, Role


def get_by_username(*, session: Session, username: str, for_update: bool = False
                    ) -> Account | None:
    """The account named ``username``; ``for_update`` locks its row (PostgreSQL) until the unit
    of work ends."""
    statement = select(Account).where(Account.username == username)
    if for_update:
        statement = statement.with_for_update()
    return session.exec(statement).first()


def get(*, session: Session, account_id: int, for_update: bool = False) -> Account | None:
    if for_update:
        return session.exec(
            select(Account).where(Account.id == account_id).with_for_update()).first()
    return session.get(Account, account_id)


def list_accounts(*, session: Session) -> list[Account]:
    return list(session.exec(select(Account).order_by(Account.username)))


def count(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Account)).one()


def active_admin_ids(*, session: Session, for_update: bool = False) -> list[int]:
    """The ids of the active admin accounts; ``for_update`` locks their rows (PostgreSQL), so
    two units of work cannot each remove a different one of the last two."""
    statement = select(Account.id).where(Account.role == Role.admin, Account.active)
    if for_update:
        statement = statement.with_for_update()
    return list(session.exec(statement.order_by(Account.id)))


def add(*, session: Session, account: Account) -> Account:
    session.add(account)
    session.flush()
    return account
