"""Untrusted text (prompts, notes, reasons, names, labels, catalogue titles) shown exactly as
stored: never read as Markdown or HTML, so a prompt cannot load a remote image in a reviewer's
browser, inject markup, or look different to reviewers than it did to raters.

Streamlit reads Markdown in ``st.markdown``, ``st.caption``, ``st.info``/``warning``/``error``/
``success``, and in the labels of buttons, expanders, tabs, radio options and metrics. Untrusted
text goes into those only through ``as_markdown``; into HTML (``unsafe_allow_html``) only through
``as_html``; a prompt on its own is best shown by ``show_prompt``. ``st.text``, ``st.code``,
``st.dataframe`` and select boxes' options show text literally already.
"""

from __future__ import annotations

import re

import streamlit as st

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
"""Every ASCII punctuation mark: CommonMark shows each literally after a backslash, so no
emphasis, link, image, heading, list, table, code, math (``$``), HTML tag, Streamlit colour or
badge directive (``:red[…]``) or icon (``:material/…:``) can form."""
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")


def as_markdown(text: object, *, one_line: bool = False) -> str:
    """``text`` as Markdown that renders as exactly its characters; line breaks become hard
    breaks (or spaces with ``one_line``, for labels)."""
    lines = _LINE_BREAK.split(str(text))
    return (" " if one_line else "  \n").join(_PUNCTUATION.sub(r"\\\1", line) for line in lines)


def as_html(text: object) -> str:
    """``text`` as HTML that renders as exactly its characters: every ASCII punctuation mark
    becomes a character reference (so neither HTML nor Markdown can form, whatever surrounds
    it) and every line break a ``<br>`` (so no blank line ends the caller's HTML block)."""
    return "<br>".join(_PUNCTUATION.sub(lambda m: f"&#{ord(m.group(1))};", line)
                       for line in _LINE_BREAK.split(str(text)))


def show_prompt(text: str, *, size: float = 1.6, marked: str | None = None) -> None:
    """A prompt in large type, exactly as stored: the same card on every page.

    ``marked``: the prompt as HTML built from ``as_html`` pieces with spans marked (rule hits,
    slots), shown instead of the plain text.
    """
    body = as_html(text) if marked is None else marked
    st.markdown(f'<div style="font-size:{size}rem;line-height:1.4;padding:0.2rem 0 0.4rem">'
                f"{body}</div>", unsafe_allow_html=True)
