"""
Every user-facing text in the member's language: one catalog per locale, one translator.

English is the source language: each text is written in English in the code, and that English
text is the message id (msgid) its translations are looked up by. A catalog is a JSON object
in `bot/locales/<locale>.json` mapping msgids to translations, where `<locale>` is a Discord
locale value (`de`, `pt-BR`) or a bare language (`es`) standing in for all its regional
variants. A text a catalog lacks is answered in English, never refused.

`Translator` serves both ways texts reach Discord:

* discord.py asks it (`translate`) at sync for every command and group name and description,
  option name and description, and choice name: a plain `str` in a decorator becomes a
  `locale_str` with that msgid. Returning None leaves the localisation out.
* our own texts (embeds, errors) ask it at answer time, synchronously: `text(msgid, locale,
  **values)`, or `bind(locale)` for a callable to hand to code that only formats words
  (`bot.wording`). Texts are `str.format` templates: literal braces are doubled.

Answers follow `locale_for(interaction)`: the member's language if we speak it, else the
guild's, else English.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any, Protocol

import discord
from discord import app_commands
from discord.app_commands import TranslationContextTypes, locale_str

log = logging.getLogger(__name__)

#: The language every text is written in, and what answers fall back to.
SOURCE_LOCALE = "en-US"
#: Its bare language: `en-GB` is served the source texts too.
SOURCE_LANGUAGE = "en"
#: What `str.format` raises for a template that does not fit its values.
_FORMAT_ERRORS = (KeyError, IndexError, ValueError, AttributeError, TypeError)


class Translate(Protocol):
    """Texts in one language: `tr(msgid, **values)` is the translation, formatted."""

    def __call__(self, message: str, /, **values: object) -> str: ...


def english(message: str, /, **values: object) -> str:
    """The source text itself, formatted: a `Translate` for code with no locale at hand."""
    return message.format(**values)


class Msg(str):
    """
    Our own words inside data that is otherwise passed on as is (a provider's ticket view):
    a `str` holding the English text, which also remembers its template and values so it can
    be worded again for each reader (`in_`). Anything that treats it as a plain `str` gets the
    English, so it can never break an answer; text built from it (slices, concatenations) is
    plain English text. Values may be `Msg`s themselves (a state label inside a footer).
    """

    template: str
    values: Mapping[str, object]

    def __new__(cls, template: str, /, **values: object) -> Msg:
        english_text = template.format(**values) if values else template
        made = super().__new__(cls, english_text)
        made.template = template
        made.values = values
        return made

    def in_(self, tr: Translate) -> str:
        """This text in `tr`'s language."""
        values = {k: v.in_(tr) if isinstance(v, Msg) else v for k, v in self.values.items()}
        return tr(self.template, **values)


def worded(text: str, tr: Translate) -> str:
    """`text` in `tr`'s language when it is our `Msg`; data (any other `str`) as it is."""
    # A Msg already holds its English: nothing to do for English readers (most lookups).
    return text.in_(tr) if tr is not english and isinstance(text, Msg) else text


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members in file order (told apart from a JSON array)."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """One locale's translations, keyed by the English source text."""

    locale: str
    messages: Mapping[str, str]

    @classmethod
    def parse(cls, locale: str, raw: str) -> Catalog:
        """Read a catalog file's JSON text; anything but a flat object of strings is refused."""
        # Pairs, not a dict: a msgid entered twice (two people adding the same text) would
        # otherwise silently keep only the last translation.
        pairs = json.loads(raw, object_pairs_hook=_Pairs)
        if not isinstance(pairs, _Pairs):
            raise ValueError(f"catalog {locale!r}: expected a JSON object")
        messages: dict[str, str] = {}
        for key, value in pairs:
            if key in messages:
                raise ValueError(f"catalog {locale!r}: {key!r} is translated twice")
            if not isinstance(value, str) or not value:
                raise ValueError(f"catalog {locale!r}: {key!r} has no translation text")
            messages[key] = value
        return cls(locale, MappingProxyType(messages))

    def get(self, message: str) -> str | None:
        """The translation of `message`, or None."""
        return self.messages.get(message)


def load_catalogs(directory: Traversable) -> dict[str, Catalog]:
    """
    Every catalog in `directory`, by locale: `<locale>.json`, and `<locale>.<part>.json` files
    merged into it (one file per area of the code, so areas are translated independently).
    """
    found: dict[str, Catalog] = {}
    if not directory.is_dir():
        return found
    for entry in sorted(directory.iterdir(), key=lambda item: item.name):
        if entry.is_file() and entry.name.endswith(".json"):
            locale = entry.name.removesuffix(".json").split(".", 1)[0]
            parsed = Catalog.parse(locale, entry.read_text(encoding="utf-8"))
            found[locale] = merge(found[locale], parsed) if locale in found else parsed
    return found


def merge(first: Catalog, second: Catalog) -> Catalog:
    """Two catalogs of one locale as one; a text translated in both is refused (which one
    would a member get?), unless both say the same."""
    messages = dict(first.messages)
    for key, value in second.messages.items():
        if messages.setdefault(key, value) != value:
            raise ValueError(f"catalog {first.locale!r}: {key!r} is translated twice")
    return Catalog(first.locale, MappingProxyType(messages))


def package_catalogs(package: str) -> dict[str, Catalog]:
    """The catalogs a package ships in its `locales/` folder (a provider's own words)."""
    return load_catalogs(resources.files(package) / "locales")


@cache
def shipped_catalogs() -> Mapping[str, Catalog]:
    """The catalogs in the package (`bot/locales`), read once per process."""
    return MappingProxyType(load_catalogs(resources.files("bot") / "locales"))


def _value(locale: discord.Locale | str | None) -> str:
    if locale is None or isinstance(locale, str):
        return locale or SOURCE_LOCALE
    # Not `isinstance(..., Locale)`: discord.py gives a locale it does not know yet as a
    # stand-in object of another class, with the same `.value`.
    return str(locale.value)


def _resolve(
    catalogs: Mapping[str, Catalog], locale: discord.Locale | str | None
) -> Catalog | None:
    """The catalog serving `locale`: its own, else its bare language's (`es-419` -> `es`)."""
    value = _value(locale)
    return catalogs.get(value) or catalogs.get(value.split("-", 1)[0])


def speaks(
    locale: discord.Locale | str | None, catalogs: Mapping[str, Catalog] | None = None
) -> bool:
    """Whether answers can be in `locale`'s language (English always can)."""
    value = _value(locale)
    if value.split("-", 1)[0] == SOURCE_LANGUAGE:
        return True
    return _resolve(shipped_catalogs() if catalogs is None else catalogs, value) is not None


def locale_for(interaction: discord.Interaction) -> str:
    """
    The locale to answer `interaction` in (a Discord locale value): the member's if we speak
    its language, else the guild's, else English. Judged against the shipped catalogs.
    """
    for candidate in (interaction.locale, interaction.guild_locale):
        if candidate is not None and speaks(candidate):
            return _value(candidate)
    return SOURCE_LOCALE


class Translator(app_commands.Translator):
    """The shipped catalogs (or given ones) as discord.py's translator and for our own texts."""

    def __init__(self, catalogs: Mapping[str, Catalog] | None = None) -> None:
        self.catalogs: Mapping[str, Catalog] = (
            shipped_catalogs() if catalogs is None else MappingProxyType(dict(catalogs))
        )
        # (locale, msgid) pairs whose translation failed to format: logged once, not per answer.
        self._broken: set[tuple[str, str]] = set()

    def add_catalogs(self, extra: Mapping[str, Catalog]) -> None:
        """Merge a package's catalogs in (a provider's words, when its extension loads)."""
        catalogs = dict(self.catalogs)
        for locale, catalog in extra.items():
            catalogs[locale] = merge(catalogs[locale], catalog) if locale in catalogs else catalog
        self.catalogs = MappingProxyType(catalogs)

    def catalog(self, locale: discord.Locale | str | None) -> Catalog | None:
        """The catalog serving `locale`, or None for English and languages we lack."""
        return _resolve(self.catalogs, locale)

    async def translate(
        self, string: locale_str, locale: discord.Locale, context: TranslationContextTypes
    ) -> str | None:
        """A command text in `locale` for the sync payload, or None to leave it out."""
        catalog = self.catalog(locale)
        translated = catalog.get(string.message) if catalog is not None else None
        # A translation equal to the source (a product name, `id`) adds nothing to the payload.
        return None if translated == string.message else translated

    def text(self, message: str, locale: discord.Locale | str | None, /, **values: object) -> str:
        """
        `message` in `locale` (English when untranslated), formatted with `values`.

        A translation that does not format (a placeholder renamed in one language only) must
        not cost the member an answer: they get the English, and we log it once, without the
        values (they may be what the member typed).
        """
        catalog = self.catalog(locale)
        translated = catalog.get(message) if catalog is not None else None
        if translated is not None:
            try:
                return translated.format(**values)
            except _FORMAT_ERRORS:
                self._report(_value(locale), message)
        try:
            return message.format(**values)
        except _FORMAT_ERRORS:
            self._report(SOURCE_LOCALE, message)
            return message

    def bind(self, locale: discord.Locale | str | None) -> Translate:
        """
        `text` with the locale fixed: a `Translate` to hand to code that words answers. For
        English, or a language we have no catalog for, it is `english` itself, which code on
        the hot path (the renderer) recognises to skip translating altogether.
        """
        if self.catalog(locale) is None:
            return english
        return Texts(self, _value(locale))

    def for_interaction(self, interaction: discord.Interaction) -> Translate:
        """`text` in the language `interaction` should be answered in (`locale_for`)."""
        return self.bind(locale_for(interaction))

    def _report(self, locale: str, message: str) -> None:
        if (locale, message) in self._broken:
            return
        self._broken.add((locale, message))
        log.error("text %r does not format in %s; answering with the source text", message, locale)


@dataclass(frozen=True, slots=True)
class Texts:
    """A translator bound to one locale (see `Translator.bind`)."""

    translator: Translator
    locale: str

    def __call__(self, message: str, /, **values: object) -> str:
        return self.translator.text(message, self.locale, **values)
