"""Accounts."""

from __future__ import annotations

from sqlmodel import Session, func, select

from storage.models import Account


def get_by_username(*, session: Session, username: str) -> Account | None:
    return session.exec(select(Account).where(Account.username == username)).first()


def get(*, session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def list_accounts(*, session: Session) -> list[Account]:
    return list(session.exec(select(Account).order_by(Account.username)))


def count(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Account)).one()


def add(*, session: Session, account: Account) -> Account:
    session.add(account)
    session.flush()
    return account
