"""One error family: every exception class the project defines derives from CompanionError, so a
caller (the web app, the CLI) can catch the project's own errors with one except clause."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import companion
import pipelines
from companion.errors import CompanionError


def project_modules():
    for package in (companion, pipelines):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            yield info.name


def test_every_project_exception_is_a_companion_error():
    defined = []
    for name in project_modules():
        module = importlib.import_module(name)
        defined += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, BaseException) and cls.__module__ == name
        ]
    assert len(defined) >= 15
    assert [f"{c.__module__}.{c.__name__}" for c in defined if not issubclass(c, CompanionError)] == []


def test_the_family_keeps_the_builtin_kinds_callers_already_catch():
    from companion.errors import BadSetting, InvalidInput, WrongType
    from pipelines.loading import MissingModel

    assert issubclass(InvalidInput, ValueError) and issubclass(WrongType, TypeError)
    assert issubclass(BadSetting, ValueError) and issubclass(MissingModel, FileNotFoundError)
