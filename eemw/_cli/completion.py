"""Shell completion scripts, generated from the ``eemw`` argument parser itself.

The script maps each command path (``""``, ``"operations"``, ``"operations cancel"``) to
the words that may follow it: subcommands, aliases and options. zsh runs the same function
through ``bashcompinit``, so both shells complete exactly what the parser accepts.
"""

from __future__ import annotations

import argparse
import shlex

__all__ = ["SHELLS", "script"]

SHELLS = ("bash", "zsh")

_FUNCTION = """
_eemw() {
    local cur="${COMP_WORDS[COMP_CWORD]}" path="" word i
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        [[ "$word" == -* ]] && continue
        [[ " $(_eemw_words "$path") " == *" $word "* ]] && path="${path:+$path }$word"
    done
    COMPREPLY=($(compgen -W "$(_eemw_words "$path")" -- "$cur"))
}
complete -F _eemw eemw
"""


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell`` (``bash`` or ``zsh``)."""
    if shell not in SHELLS:
        raise ValueError(f"no completion for {shell!r}; shells: {', '.join(SHELLS)}")
    cases = "\n".join(
        f"        {shlex.quote(path)}) echo {shlex.quote(' '.join(words))} ;;"
        for path, words in _paths(parser, "")
    )
    words = f"_eemw_words() {{\n    case \"$1\" in\n{cases}\n    esac\n}}\n"
    head = f"# eemw {shell} completion: eval \"$(eemw completion {shell})\"\n"
    if shell == "zsh":
        head += "autoload -U +X bashcompinit && bashcompinit\n"
    return head + words + _FUNCTION


def _paths(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, list[str]]]:
    """Each command path below ``parser`` and the words that may follow it."""
    words: list[str] = []
    below: list[tuple[str, list[str]]] = []
    for action in parser._actions:  # argparse offers no public walk of its parsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words.append(name)
                below += _paths(sub, f"{path} {name}".strip())
        elif action.help != argparse.SUPPRESS:
            words += action.option_strings
    return [(path, sorted(set(words))), *below]
