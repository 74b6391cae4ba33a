from __future__ import annotations

from pathlib import Path

import pytest

from voiceai_ivr.config import Config
from voiceai_ivr.flows.context import call_identity, parse_clock
from voiceai_ivr.flows.prompts import PACKAGED_DIR, PromptBook, PromptError


def test_both_languages_have_the_same_keys_and_variables() -> None:
    book = PromptBook.load()
    assert set(book.languages) == {"pt-BR", "en-US"}
    assert book.keys("pt-BR") == book.keys("en-US")
    for key in book.keys("pt-BR"):
        assert book.variables("pt-BR", key) == book.variables("en-US", key), key


def test_every_packaged_file_is_a_flat_or_nested_mapping_of_text() -> None:
    files = sorted(PACKAGED_DIR.glob("*.yaml"))
    assert any(f.name == "pt-BR.yaml" for f in files)


def test_greeting_lists_the_menu_and_is_spoken_by_tts() -> None:
    book = PromptBook.load()
    src = book.source(
        "pt-BR", "greeting", greeting="", company="Demo", menu=[{"key": 1, "name": "Financeiro"}]
    )
    assert src.startswith("say:Olá! Você ligou para Demo.")
    assert "1 para Financeiro." in src
    en = book.render("en-US", "clarify", options=["Ana", "Anne"])
    assert en == "Did you mean Ana or Anne? Press 1 for Ana, press 2 for Anne."
    pt = book.render("pt-BR", "clarify", options=["Ana Souza", "Ana Lima", "Anaí"])
    assert pt.startswith("Você quis dizer Ana Souza, Ana Lima ou Anaí?")


def test_missing_variable_and_missing_key_are_clear_errors() -> None:
    book = PromptBook.load()
    with pytest.raises(PromptError, match=r"prompts\.pt-BR\.connecting"):
        book.render("pt-BR", "connecting")
    with pytest.raises(PromptError, match="no such prompt"):
        book.render("pt-BR", "does.not.exist")
    with pytest.raises(PromptError, match="no prompts for language"):
        book.render("fr-FR", "goodbye")


def test_override_dir_extra_files_and_recordings(tmp_path: Path) -> None:
    overrides = tmp_path / "prompts"
    overrides.mkdir()
    (overrides / "pt-BR.yaml").write_text("goodbye: Tchau, {{ company }}!\n", encoding="utf-8")
    (overrides / "callback.pt-BR.yaml").write_text(
        "ask_number: Qual o número?\ncallback.confirm: Confirma?\nnested: {a: Um}\n", encoding="utf-8"
    )
    rec = tmp_path / "rec" / "pt-BR"
    rec.mkdir(parents=True)
    (rec / "no_input.wav").write_bytes(b"RIFF")
    (rec / "goodbye.wav").write_bytes(b"RIFF")  # has a variable: never used
    cfg = Config()
    cfg.speech.prompts_dir = str(overrides)
    cfg.speech.recordings_dir = str(tmp_path / "rec")
    book = PromptBook.from_config(cfg)
    assert book.render("pt-BR", "goodbye", company="Demo") == "Tchau, Demo!"
    assert book.render("en-US", "goodbye") == "Thank you for calling. Goodbye!"
    assert book.render("pt-BR", "callback.ask_number") == "Qual o número?"
    assert book.render("pt-BR", "callback.confirm") == "Confirma?"
    assert book.render("pt-BR", "callback.nested.a") == "Um"
    assert book.source("pt-BR", "no_input") == str(rec / "no_input.wav")
    assert book.source("pt-BR", "goodbye", company="X") == "say:Tchau, X!"
    assert book.source("en-US", "no_input").startswith("say:")


def test_bad_prompt_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "p"
    bad.mkdir()
    (bad / "pt-BR.yaml").write_text("goodbye: [1, 2]\n", encoding="utf-8")
    with pytest.raises(PromptError, match="goodbye"):
        PromptBook.load(str(bad))
    (bad / "pt-BR.yaml").write_text("goodbye: '{{ unclosed'\n", encoding="utf-8")
    with pytest.raises(PromptError, match="bad template"):
        PromptBook.load(str(bad))
    (bad / "pt-BR.yaml").write_text("a: b: c\n", encoding="utf-8")
    with pytest.raises(PromptError, match="not valid YAML"):
        PromptBook.load(str(bad))
    cfg = Config()
    cfg.speech.prompts_dir = str(tmp_path / "missing")
    with pytest.raises(PromptError, match=r"speech\.prompts_dir"):
        PromptBook.from_config(cfg)


def test_call_identity_and_clock() -> None:
    ident = call_identity(
        {
            "Unique-ID": "u-1",
            "variable_domain_name": "Demo.Local",
            "Caller-Destination-Number": "8000",
            "Caller-Caller-ID-Number": "anonymous",
            "Caller-Caller-ID-Name": "_undef_",
        }
    )
    assert (ident.call_uuid, ident.domain, ident.did, ident.caller_name) == ("u-1", "demo.local", "8000", "")
    assert ident.caller_withheld
    ident = call_identity({"variable_voiceai_domain": "a.b", "variable_domain_name": "c.d"}, "x")
    assert ident.domain == "a.b" and ident.call_uuid == "x" and ident.caller_withheld
    assert parse_clock("2026-11-24T10:30:00-03:00").utcoffset().total_seconds() == -3 * 3600
    with pytest.raises(Exception, match="voiceai_clock"):
        parse_clock("2026-11-24T10:30:00")
    with pytest.raises(Exception, match="voiceai_clock"):
        parse_clock("tomorrow")


def test_every_transfer_status_has_a_prompt_in_both_languages() -> None:
    from voiceai_ivr.domain.causes import STATUSES, prompt_key

    book = PromptBook.load()
    for lang in ("pt-BR", "en-US"):
        for status in (*STATUSES, "accepted"):
            text = book.render(lang, prompt_key(status), destination="Financeiro")
            assert text, (lang, status)
