"""Fixtures for the watch layer's tests (defined in kube_fakes, importable by the tests too)."""

from .kube_fakes import connection, fake_api, fake_time

__all__ = ["connection", "fake_api", "fake_time"]
