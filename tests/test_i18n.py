"""
Localisation: the catalogs, the translator discord.py syncs with, our own texts in the member's
language, and the German catalog's completeness and validity against the real command tree.

A bad localised name makes Discord refuse the whole sync, so every translated name is checked
here against Discord's rules before Discord sees it.
"""

from __future__ import annotations

import ast
import logging
import re
import string
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord.app_commands import TranslationContext, TranslationContextLocation, locale_str

from bot import i18n, wording
from bot.app import TicketLensBot
from bot.errors import NotConfigured, RateLimited
from bot.i18n import (
    SOURCE_LOCALE,
    Catalog,
    Translator,
    english,
    locale_for,
    shipped_catalogs,
    speaks,
)
from cogs.retroachievements._client import RetroSettings
from tests.e2e.fake_discord import FakeDiscord
from tests.harness import all_text, embeds_of, running_bot

DE = "de"
ROOT = Path(__file__).resolve().parent.parent
CONTEXT = TranslationContext(TranslationContextLocation.other, None)
CHAT_INPUT, SUBCOMMAND, SUBCOMMAND_GROUP = 1, 1, 2
MENTION_SPAN = re.compile(r"`([^`]*)`")


def placeholders(template: str) -> set[str]:
    """The `str.format` fields a template uses (`{label}`, `{reason}`)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def interaction(locale: discord.Locale, guild_locale: discord.Locale | None = None) -> Any:
    """What `locale_for` reads of an interaction."""
    return SimpleNamespace(locale=locale, guild_locale=guild_locale)


# -- the catalogs and the translator ----------------------------------------------------------


def test_shipped_catalogs_load_and_are_named_after_discord_locales():
    """German ships; every file is a Discord locale value or a bare language of one."""
    catalogs = shipped_catalogs()
    assert DE in catalogs
    assert catalogs[DE].get("Ticket not found") == "Ticket nicht gefunden"
    known = {locale.value for locale in discord.Locale}
    languages = {value.split("-")[0] for value in known}
    for name in catalogs:
        assert name in known or name in languages, name


@pytest.mark.parametrize(
    "raw",
    ['["a", "b"]', '{"a": "b", "a": "c"}', '{"a": {"b": "c"}}', '{"a": ""}', '{"a": 1}'],
)
def test_a_malformed_catalog_is_refused(raw):
    """Only a flat object of non-empty strings, each msgid once, is a catalog."""
    with pytest.raises(ValueError, match="catalog"):
        Catalog.parse("xx", raw)


async def test_translate_gives_german_for_de_and_none_otherwise():
    """discord.py gets German for `de`, None when untranslated, English or the same text."""
    tr = Translator()
    german = await tr.translate(locale_str("public"), discord.Locale.german, CONTEXT)
    assert german == "öffentlich"
    assert await tr.translate(locale_str("no such text"), discord.Locale.german, CONTEXT) is None
    assert await tr.translate(locale_str("public"), discord.Locale.french, CONTEXT) is None
    assert (
        await tr.translate(locale_str("public"), discord.Locale.american_english, CONTEXT) is None
    )
    # Translated to itself: nothing worth sending.
    assert await tr.translate(locale_str("ticket"), discord.Locale.german, CONTEXT) is None


def test_text_translates_formats_and_falls_back_to_english():
    """Our own texts: German for `de`, English for anything we lack, formatted either way."""
    tr = Translator()
    title, _ = wording.NOT_CONFIGURED
    assert tr.text(title, "de", label="WHMCS") == "WHMCS ist hier nicht eingerichtet"
    assert tr.text(title, discord.Locale.german, label="WHMCS") == (
        "WHMCS ist hier nicht eingerichtet"
    )
    for other in ("en-US", "en-GB", "fr", None, discord.Locale.japanese):
        assert tr.text(title, other, label="WHMCS") == "WHMCS isn't set up here"
    assert tr.text("Not in any catalog {n}", "de", n=3) == "Not in any catalog 3"
    assert tr.bind("de")("Ticket not found") == "Ticket nicht gefunden"
    assert english("{label} refused this", label="X") == "X refused this"


def test_a_translation_that_does_not_format_answers_in_english_and_logs_once(caplog):
    """A placeholder renamed in one language costs nobody an answer; logged once, no values."""
    tr = Translator({"de": Catalog("de", {"Hello {name}": "Hallo {nom}"})})
    with caplog.at_level(logging.ERROR, logger="bot.i18n"):
        assert (
            tr.text("Hello {name}", "de", name="typed-by-member-42") == "Hello typed-by-member-42"
        )
        assert (
            tr.text("Hello {name}", "de", name="typed-by-member-42") == "Hello typed-by-member-42"
        )
        assert tr.text("Broken {", "de") == "Broken {"
    assert len(caplog.records) == 2
    assert "typed-by-member-42" not in caplog.text


def test_regional_variants_use_the_language_catalog():
    """`es-ES` and `es-419` share `es.json`; `pt-BR` its own or `pt`; English has no file."""
    spanish = Catalog("es", {"Ticket not found": "Ticket no encontrado"})
    tr = Translator({"es": spanish})
    for value in (
        "es-ES",
        "es-419",
        discord.Locale.spain_spanish,
        discord.Locale.latin_american_spanish,
    ):
        assert tr.catalog(value) is spanish
        assert tr.text("Ticket not found", value) == "Ticket no encontrado"
    assert tr.catalog("pt-BR") is None
    assert Translator({"pt": Catalog("pt", {})}).catalog("pt-BR") is not None
    assert speaks("es-419", {"es": spanish})
    assert not speaks("fr", {"es": spanish})
    assert speaks("en-GB", {})


@pytest.mark.parametrize(
    ("member", "guild", "expected"),
    [
        (discord.Locale.german, None, "de"),
        (discord.Locale.german, discord.Locale.french, "de"),
        (discord.Locale.french, discord.Locale.german, "de"),
        (discord.Locale.french, None, SOURCE_LOCALE),
        (discord.Locale.french, discord.Locale.japanese, SOURCE_LOCALE),
        (discord.Locale.british_english, discord.Locale.german, "en-GB"),
        (discord.Locale.american_english, discord.Locale.german, "en-US"),
    ],
)
def test_answers_follow_the_member_then_the_guild_then_english(member, guild, expected):
    """The member's language if we speak it (English included), else the guild's, else English."""
    chosen = locale_for(interaction(member, guild))
    assert chosen == expected
    assert Translator().text("Ticket not found", chosen) == (
        "Ticket nicht gefunden" if expected == "de" else "Ticket not found"
    )


# -- every catalog entry, and the error wording -----------------------------------------------


def test_translations_keep_the_placeholders_of_their_source():
    """`{label}` in English is `{label}` in every translation: no answer falls back."""
    for locale, catalog in all_catalogs().items():
        for message, translated in catalog.messages.items():
            assert placeholders(translated) == placeholders(message), (locale, message)


def source_strings() -> set[str]:
    """
    Every string literal in `bot/` and `cogs/` (adjacent literals joined, as Python does), and
    every parameter name: discord.py names an option after its callback's parameter.
    """
    found: set[str] = set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("cogs").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
            elif isinstance(node, ast.arg):
                found.add(node.arg)
    return found


def test_no_translation_is_left_behind():
    """Each msgid is still a text in the code: an English text edited needs its German redone."""
    strings = source_strings()
    for locale, catalog in all_catalogs().items():
        stale = sorted(message for message in catalog.messages if message not in strings)
        assert not stale, f"{locale}: translations of texts no longer in the code:\n" + "\n".join(
            stale
        )


def test_every_error_wording_is_translated():
    """Each title and text of `bot.wording` has German."""
    german = shipped_catalogs()[DE]
    missing = [message for message in wording.messages() if german.get(message) is None]
    assert not missing, "no German for:\n" + "\n".join(missing)


def test_describe_words_errors_in_the_given_language():
    """The error frame is translated; the provider's label and key stay as they are."""
    provider = SimpleNamespace(key="whmcs", label="WHMCS", explain=lambda error: None)
    error = NotConfigured().for_provider(provider)
    title, text = wording.describe(error, english)
    assert title == "WHMCS isn't set up here"
    assert "`/ticketconfig set provider:whmcs`" in text
    title, text = wording.describe(error, Translator().bind("de"))
    assert title == "WHMCS ist hier nicht eingerichtet"
    assert "`/ticketconfig einrichten anbieter:whmcs`" in text
    slow = RateLimited(retry_after=2.6).for_provider(provider)
    assert wording.describe(slow, english)[1] == "Too many lookups for now. Try again in about 3 s."
    assert "etwa 3 s" in wording.describe(slow, Translator().bind("de"))[1]


# -- the command tree -------------------------------------------------------------------------


@dataclass
class Texts:
    """The translatable strings of a command payload, by where Discord puts them."""

    names: set[str]
    descriptions: set[str]
    choices: set[str]


def walk(
    nodes: list[dict[str, Any]], top: bool = True
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every command, group and option with its siblings (top level: commands of its type)."""
    for node in nodes:
        kind = node.get("type", 1)
        siblings = [n for n in nodes if n.get("type", 1) == kind] if top else nodes
        yield node, siblings
        yield from walk(node.get("options") or [], top=False)


def texts_of(payload: list[dict[str, Any]]) -> Texts:
    found = Texts(set(), set(), set())
    for node, _ in walk(payload):
        found.names.add(node["name"])
        if node.get("description"):
            found.descriptions.add(node["description"])
        found.choices |= {choice["name"] for choice in node.get("choices") or []}
    return found


async def tree_of(fake_discord: FakeDiscord, data, fake_ra) -> tuple[list[Any], set[str], set[str]]:
    """The source command payload, and the provider keys and labels (never translated)."""
    section = RetroSettings(base_url=fake_ra.url, rate_per_s=100)
    async with running_bot(fake_discord, data, sections={RetroSettings: section}) as bot:
        keys = set(bot.providers)
        labels = {provider.label for provider in bot.providers.values()}
        return bot.command_payload(), keys, labels


async def test_every_command_text_has_german(fake_discord, fake_ra, tmp_path):
    """
    Every name, description and choice in the synced tree has German: a new command needs
    its translations in `bot/locales/de.json`, or a provider's in its own
    `cogs/<name>/locales/de.json`. Provider keys (as names) and labels (as choices) stay as
    they are and need none.
    """
    payload, keys, labels = await tree_of(fake_discord, tmp_path, fake_ra)
    texts = texts_of(payload)
    german = all_catalogs()[DE]
    wanted = (texts.names - keys) | texts.descriptions | (texts.choices - labels)
    missing = sorted(text for text in wanted if german.get(text) is None)
    print("\n".join(f'  "{text}": "",' for text in missing))  # noqa: T201  (ready to paste)
    assert not missing, f"{len(missing)} command text(s) have no German (printed above)"


def valid_chat_input_name(name: str) -> bool:
    """Discord's rule: lowercase, `^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`."""

    def allowed(char: str) -> bool:
        code = ord(char)
        return (
            char in "-_"
            or unicodedata.category(char)[0] in "LN"
            or 0x0900 <= code <= 0x097F  # Devanagari (its vowel signs are marks, not letters)
            or 0xA8E0 <= code <= 0xA8FF  # Devanagari Extended
            or 0x0E00 <= code <= 0x0E7F  # Thai
        )

    return 1 <= len(name) <= 32 and name == name.lower() and all(map(allowed, name))


def test_the_name_rule_itself():
    assert valid_chat_input_name("öffentlich")
    assert valid_chat_input_name("most-reported")
    assert valid_chat_input_name("हिन्दी")
    for bad in ("Öffentlich", "two words", "a.b", "", "x" * 33, "emoji🎫"):
        assert not valid_chat_input_name(bad), bad


async def test_synced_localisations_follow_discords_rules(fake_discord, fake_ra, tmp_path):
    """
    What was actually sent: localised names valid and unique among their siblings in every
    locale, descriptions and choice names 1-100 characters; German present.
    """
    section = RetroSettings(base_url=fake_ra.url, rate_per_s=100)
    async with running_bot(fake_discord, tmp_path, sections={RetroSettings: section}) as bot:
        assert bot.synced_this_start
        sent = fake_discord.commands[None]
    assert sent
    problems: list[str] = []
    for node, siblings in walk(sent):
        context_menu = node in sent and node.get("type", 1) in (2, 3)
        for locale, name in (node.get("name_localizations") or {}).items():
            ok = 1 <= len(name) <= 32 if context_menu else valid_chat_input_name(name)
            if not ok:
                problems.append(f"name {node['name']!r} in {locale}: {name!r}")
        for locale, text in (node.get("description_localizations") or {}).items():
            if not 1 <= len(text) <= 100:
                problems.append(f"description of {node['name']!r} in {locale}: {len(text)} chars")
        for choice in node.get("choices") or []:
            for locale, text in (choice.get("name_localizations") or {}).items():
                if not 1 <= len(text) <= 100:
                    problems.append(f"choice {choice['name']!r} in {locale}: {text!r}")
        locales = {loc for s in siblings for loc in (s.get("name_localizations") or {})}
        for locale in locales:
            shown = [(s.get("name_localizations") or {}).get(locale, s["name"]) for s in siblings]
            if len(set(shown)) != len(shown):
                problems.append(f"names clash in {locale} among {sorted(shown)}")
    assert not problems, "\n".join(sorted(set(problems)))

    ticket = next(c for c in sent if c["name"] == "ticket")
    assert ticket["description_localizations"][DE] == (
        "Schlag ein Ticket aus einem verbundenen System nach."
    )
    config = next(c for c in sent if c["name"] == "ticketconfig")
    set_command = next(o for o in config["options"] if o["name"] == "set")
    assert set_command["name_localizations"][DE] == "einrichten"
    assert set_command["description_localizations"][DE]
    provider = next(o for o in set_command["options"] if o["name"] == "provider")
    assert provider["name_localizations"][DE] == "anbieter"


async def test_texts_quote_commands_by_their_german_names(fake_discord, fake_ra, tmp_path):
    """A German text names `/ticketconfig einrichten anbieter:`, as German members see it."""
    payload, _, _ = await tree_of(fake_discord, tmp_path, fake_ra)
    texts = texts_of(payload)
    # Choices too: a member picks `replies: älteste`, so a German text names it so.
    names = texts.names | texts.choices
    for catalog in all_catalogs().values():

        def localised(span: str, catalog: Catalog = catalog) -> str:
            words = []
            for word in span.split(" "):
                slash = "/" if word.startswith("/") else ""
                name, colon, value = word.removeprefix("/").partition(":")
                if name in names:
                    name = catalog.get(name) or name
                words.append(f"{slash}{name}{colon}{value}")
            return " ".join(words)

        for message, translated in catalog.messages.items():
            expected = [localised(span) for span in MENTION_SPAN.findall(message)]
            assert MENTION_SPAN.findall(translated) == expected, (catalog.locale, message)


async def test_a_catalog_change_syncs_again(fake_discord, fake_ra, tmp_path, monkeypatch):
    """The sync hash covers the localisations: a changed translation is sent."""
    section = RetroSettings(base_url=fake_ra.url, rate_per_s=100)
    async with running_bot(fake_discord, tmp_path, sections={RetroSettings: section}) as first:
        assert first.synced_this_start
    german = shipped_catalogs()[DE]
    changed = Catalog(DE, {**german.messages, "public": "oeffentlich"})
    monkeypatch.setattr(i18n, "shipped_catalogs", lambda: {DE: changed})
    async with running_bot(fake_discord, tmp_path, sections={RetroSettings: section}) as second:
        assert second.synced_this_start
    puts = fake_discord.find("PUT", r"/applications/\d+/commands")
    assert len(puts) == 2
    assert "oeffentlich" in str(puts[1].json)


# -- through the loopback Discord -------------------------------------------------------------


@pytest.fixture
async def bot(fake_discord, fake_ra, tmp_path):
    section = RetroSettings(base_url=fake_ra.url, rate_per_s=100)
    async with running_bot(fake_discord, tmp_path, sections={RetroSettings: section}) as running:
        yield running


async def test_an_error_answer_follows_the_members_locale(
    bot: TicketLensBot, fake_discord, fake_ra
):
    """/ticket retroachievements with nothing configured: German for `de`, English for en-US."""
    inter = await fake_discord.send_interaction(
        "ticket retroachievements", {"id": 5}, permissions=0, locale="de"
    )
    german = all_text(embeds_of((await fake_discord.wait_for_response(inter)).data))
    assert "RetroAchievements ist hier nicht eingerichtet" in german
    assert "`/ticketconfig einrichten anbieter:retroachievements`" in german
    assert "**Server verwalten**" in german

    inter = await fake_discord.send_interaction(
        "ticket retroachievements", {"id": 5}, permissions=0, locale="en-US"
    )
    english_text = all_text(embeds_of((await fake_discord.wait_for_response(inter)).data))
    assert "RetroAchievements isn't set up here" in english_text
    assert "`/ticketconfig set provider:retroachievements`" in english_text
    assert fake_ra.requests == []


async def test_a_permission_error_is_german_too(bot: TicketLensBot, fake_discord):
    """The handler's own answers (here: Manage Server needed) follow the locale as well."""
    inter = await fake_discord.send_interaction(
        "ticketconfig show", permissions=0, user_id=77, locale="de"
    )
    text = all_text(embeds_of((await fake_discord.wait_for_response(inter)).data))
    assert "Berechtigung erforderlich" in text
    assert isinstance(bot.i18n, Translator)


# -- our own words at answer time -------------------------------------------------------------

#: Calls whose first argument is a text to translate: `tr(...)`/`words.tr(...)`, `Msg(...)`,
#: and both arguments of `Wording(...)`.
TRANSLATING_CALLS = {"tr", "Msg", "Wording"}


def all_catalogs() -> dict[str, Catalog]:
    """The shipped catalogs with every cogs package's own merged in, as the running bot has."""
    merged = Translator()
    for package in sorted(p.name for p in ROOT.joinpath("cogs").iterdir() if p.is_dir()):
        if not package.startswith("_"):
            merged.add_catalogs(i18n.package_catalogs(f"cogs.{package}"))
    return dict(merged.catalogs)


def runtime_texts() -> dict[str, str]:
    """Every literal text handed to the translator in `bot/` and `cogs/`: text -> where."""
    found: dict[str, str] = {}
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("cogs").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in TRANSLATING_CALLS:
                continue
            texts = node.args[:2] if name == "Wording" else node.args[:1]
            for arg in texts:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
                    found.setdefault(arg.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_runtime_text_has_german():
    """Each text the code translates at answer time (embeds, buttons, a provider's own words in
    its views) has German, in the core's catalog or its provider's."""
    german = all_catalogs()[DE]
    missing = [
        f"{where}: {text!r}" for text, where in runtime_texts().items() if german.get(text) is None
    ]
    assert not missing, "no German for:\n" + "\n".join(sorted(missing))


def test_runtime_translations_keep_their_placeholders():
    """A German text uses exactly the placeholders of its English source (provider catalogs too)."""
    for catalog in all_catalogs().values():
        for source, translated in catalog.messages.items():
            assert placeholders(translated) == placeholders(source), (source, translated)


def test_the_renderers_own_words_are_german_for_de():
    """The site link, page marker and entry labels follow the reader's language."""
    from bot.render import Words

    words = Words.of(Translator().bind(DE))
    for text in (words.site_link, words.internal_note, words.page(1, 2), words.more_messages(3)):
        assert text
    assert words.site_link != Words.of(english).site_link
    assert words.page(1, 2) != Words.of(english).page(1, 2)
