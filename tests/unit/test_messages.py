"""Every template exists in French and English, and uses only the values the code passes.

The code's calls are found by reading the source (ast): `render(lang, "name", **values)`,
`reply(update, context, "name", **values)`, buttons `("label", data, {values})`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jinja2
from jinja2 import meta

from bot.texts import LANGUAGES, MESSAGES_DIR, Texts

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("bot", "handlers") for p in (ROOT / d).rglob("*.py")]
TEXTS = Texts()


def template_names() -> dict[str, set[str]]:
    return {lang: TEXTS.names(lang) for lang in LANGUAGES}


def undeclared(lang: str, name: str) -> set[str]:
    source = (MESSAGES_DIR / lang / f"{name}.j2").read_text(encoding="utf-8")
    return meta.find_undeclared_variables(TEXTS.env.parse(source)) - {"lang"}


def _pattern(node: ast.expr) -> str | None:
    """A literal template name, or a regex for an f-string name like f"verify/code_{x}"."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        parts = [
            re.escape(v.value) if isinstance(v, ast.Constant) else "[^/]+" for v in node.values
        ]
        return "".join(parts)
    return None


def calls() -> list[tuple[str, str, set[str] | None, str]]:
    """(name pattern, kind, keyword names or None when **spread, where)."""
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                index = {"render": 1, "render_plain": 1, "reply": 2, "text": 2}.get(fname)
                if index is None or len(node.args) <= index:
                    continue
                pattern = _pattern(node.args[index])
                if pattern is None:
                    continue
                keywords = {k.arg for k in node.keywords if k.arg}
                spread = any(k.arg is None for k in node.keywords)
                keywords -= {"buttons"}
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append((pattern, fname, None if spread else keywords, where))
            if isinstance(node, ast.Tuple) and len(node.elts) in (2, 3):
                first = node.elts[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    continue
                if len(node.elts) == 3 and isinstance(node.elts[2], ast.Dict):
                    keys = {k.value for k in node.elts[2].keys if isinstance(k, ast.Constant)}
                    found.append(
                        (
                            "button/" + re.escape(first.value),
                            "button",
                            keys,
                            f"{path.name}:{node.lineno}",
                        )
                    )
    return found


def test_every_template_exists_in_both_languages():
    names = template_names()
    assert names["fr"] == names["en"], {
        "only fr": sorted(names["fr"] - names["en"]),
        "only en": sorted(names["en"] - names["fr"]),
    }


def test_both_languages_use_the_same_variables():
    for name in template_names()["fr"]:
        assert undeclared("fr", name) == undeclared("en", name), name


def test_every_template_the_code_names_exists_and_gets_its_variables():
    names = template_names()["fr"]
    for pattern, kind, keywords, where in calls():
        matching = [n for n in names if re.fullmatch(pattern, n)]
        if kind == "button" and not matching:
            continue  # a 2/3-tuple that is not a button label
        assert matching, f"{where}: no template matches {pattern!r}"
        if keywords is None:
            continue
        for name in matching:
            for lang in LANGUAGES:
                missing = undeclared(lang, name) - keywords
                assert not missing, f"{where}: {lang}/{name} uses {missing} not passed"


def test_button_labels_used_by_keyboards_exist():
    names = template_names()["fr"]
    for path in SOURCES:
        for match in re.finditer(r'\(\s*"([a-z_]+)",\s*f?"[a-z_]+:', path.read_text()):
            label = match.group(1)
            assert f"button/{label}" in names, f"{path.name}: button/{label} missing"


def test_templates_parse_and_values_are_escaped():
    for lang in LANGUAGES:
        for name in TEXTS.names(lang):
            TEXTS.env.get_template(f"{lang}/{name}.j2")
    rendered = TEXTS.render("fr", "identify/unknown", typed="<b>x</b>&")
    assert "&lt;b&gt;x&lt;/b&gt;&amp;" in rendered


def test_missing_variable_is_an_error():
    try:
        TEXTS.render("fr", "identify/unknown")
    except jinja2.UndefinedError:
        return
    raise AssertionError("a template rendered without its variable")


def test_french_de_elides_and_contracts_the_article_of_a_club_name():
    """Issue 17 item 14: "de Aéroclub…" and "de Les Ailes…" read as machine-made."""
    from bot.texts import Texts, french_de

    assert french_de("Aéroclub Jean Mermoz") == "de l’Aéroclub Jean Mermoz"
    assert french_de("Les Ailes du Lauragais") == "des Ailes du Lauragais"
    assert french_de("Le Cercle des pilotes") == "du Cercle des pilotes"
    assert french_de("La Section vol moteur") == "de la Section vol moteur"
    assert french_de("L'Envol") == "de l’Envol" and french_de("L’Envol") == "de l’Envol"
    assert french_de("Cercle aéronautique Icare") == "du Cercle aéronautique Icare"
    assert french_de("Association Hélices") == "de l’Association Hélices"
    assert french_de("Amicale des pilotes") == "de l’Amicale des pilotes"
    assert french_de("Corsaire Aviation") == "de Corsaire Aviation"
    assert french_de("Icare Air") == "d’Icare Air"
    assert french_de("  Dublin   Flying Club ") == "de Dublin Flying Club"
    texts = Texts()
    assert "contact de l’Aéroclub Jean Mermoz." in texts.render(
        "fr", "verify/done", club="Aéroclub Jean Mermoz"
    )
    assert "contact of <b>Aéroclub Jean Mermoz</b>" in texts.render(
        "en", "verify/done", club="Aéroclub Jean Mermoz"
    )
    from bot.texts import french_the

    assert french_the("Aéroclub Jean Mermoz") == "l’Aéroclub Jean Mermoz"
    assert french_the("Les Ailes du Lauragais") == "les Ailes du Lauragais"
    assert french_the("Cercle aéronautique Icare") == "le Cercle aéronautique Icare"
    assert french_the("Section vol moteur") == "la Section vol moteur"
    assert (
        french_the("L'Envol") == "l’Envol"
        and french_the("Corsaire Aviation") == "Corsaire Aviation"
    )
    assert "pour <b>l’Aéroclub Jean Mermoz</b>" in texts.render(
        "fr", "reminders/turned_off", club="Aéroclub Jean Mermoz"
    )
    # The name is still escaped as any value is.
    assert "de l’Aéroclub &lt;b&gt;" in texts.render("fr", "verify/done", club="Aéroclub <b>")


def test_a_button_label_is_rendered_once_per_values_and_language():
    from bot.texts import Texts

    texts = Texts()
    rendered = []
    original = texts.render

    def counting(lang, name, /, **values):
        rendered.append((lang, name, values))
        return original(lang, name, **values)

    texts.render = counting
    for _ in range(3):
        assert texts.label("fr", "button/back", {}) == original("fr", "button/back")
        assert texts.label("en", "button/back", {}) == original("en", "button/back")
        assert texts.label("fr", "button/count", {"count": 4}) == original(
            "fr", "button/count", count=4
        )
    assert len(rendered) == 3
    assert texts.label("fr", "button/count", {"count": 5}) == original(
        "fr", "button/count", count=5
    )
    assert len(rendered) == 4
