"""Shared helpers for the end-to-end tests (MD5 digests as SQS computes them, errors, threads)."""

from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager

import pytest
from botocore.exceptions import ClientError


def md5_hex(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.md5(data).hexdigest()


def _field(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


def md5_of_attributes(attributes: dict) -> str:
    """MD5OfMessageAttributes / MD5OfMessageSystemAttributes as SQS computes them.

    For each attribute, sorted by name: length-prefixed name, length-prefixed
    data type, one transport byte (1 string/number, 2 binary), length-prefixed value.
    """
    buf = bytearray()
    for name in sorted(attributes):
        attr = attributes[name]
        buf += _field(name.encode("utf-8"))
        buf += _field(attr["DataType"].encode("utf-8"))
        if attr.get("StringValue") is not None:
            buf += b"\x01" + _field(attr["StringValue"].encode("utf-8"))
        else:
            value = attr["BinaryValue"]
            buf += b"\x02" + _field(value if isinstance(value, bytes) else bytes(value))
    return hashlib.md5(bytes(buf)).hexdigest()


@contextmanager
def aws_error(code: str, status: int | None = None):
    """`with aws_error("InvalidParameterValue"): client.call(...)` asserts the call fails with that code."""
    with pytest.raises(ClientError) as excinfo:
        yield excinfo
    err = excinfo.value.response["Error"]
    assert err["Code"] == code, f"expected error {code}, got {err.get('Code')}: {err.get('Message')}"
    if status is not None:
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


class Background:
    """Run a callable in a thread; `result(timeout)` returns its value or re-raises its error."""

    def __init__(self, fn, *args, **kwargs):
        self._value = None
        self._error: BaseException | None = None

        def run():
            try:
                self._value = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed back to the test
                self._error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def done(self) -> bool:
        return not self.thread.is_alive()

    def result(self, timeout: float):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"background call still running after {timeout}s"
        if self._error is not None:
            raise self._error
        return self._value
