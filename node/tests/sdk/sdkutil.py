"""Helpers shared by the SDK test scripts in this folder (each script is run by
node/tests/python_sdk.rs with the node's URL): progress lines, deterministic content, an
"expect this error class" check, and an SDK client that does not retry (a retry would hide
a wrong first answer)."""

from requests.exceptions import ConnectionError as RequestsConnectionError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed
from urllib3.util.retry import Retry

from aistore.sdk import Client
from aistore.sdk.retry_config import RetryConfig


def step(msg):
    print(f"- {msg}", flush=True)


def content(seed, n):
    """Deterministic bytes (an LCG), different per seed."""
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF
    out = bytearray(n)
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out[i] = x >> 24
    return bytes(out)


def expect_raises(exc_type, fn, what):
    try:
        fn()
    except exc_type as e:
        return e
    except Exception as e:  # the wrong error class is a failure too
        raise AssertionError(f"{what}: expected {exc_type.__name__}, got {type(e).__name__}: {e}") from e
    raise AssertionError(f"{what}: expected {exc_type.__name__}, but it succeeded")


def sdk_client(url, token=None, ca_cert=None):
    """An SDK client of the node at `url`: no HTTP retries, a few reconnects only; `token`:
    an AuthN token the SDK sends as `Authorization: Bearer`; `ca_cert`: the CA to trust for
    an https:// URL."""
    retry = RetryConfig(
        http_retry=Retry(total=0, connect=0, read=0, status_forcelist=[]),
        network_retry=Retrying(
            retry=retry_if_exception_type(RequestsConnectionError),
            stop=stop_after_attempt(3),
            wait=wait_fixed(0.2),
            reraise=True,
        ),
    )
    return Client(url, retry_config=retry, timeout=(3, 60), token=token, ca_cert=ca_cert)
