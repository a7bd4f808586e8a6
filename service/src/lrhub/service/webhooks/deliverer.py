"""The deliverer: a background thread per server process that raises `job.stale` events (a
job goes stale by saying nothing, so no request raises them) and claims due messages from the
outbox and sends them, each attempt in a small pool of threads, with its own database engine and
HTTP client. Nothing on the request path waits for it, so a slow or dead receiver delays no
decision; a process killed mid-attempt leaves a claim whose lease runs out, and the message is
claimed again (by any replica) with the next attempt number and the same `webhook-id`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import Engine

from lrhub.service.webhook_options import WebhookOptions
from lrhub.service.webhooks import service as webhook_service
from lrhub.service.webhooks.model import Claim
from lrhub.service.webhooks.signing import SecretUnreadable, signature, unseal
from lrhub.service.webhooks.targets import TargetRefused, resolve

LOGGER = logging.getLogger("lrhub.webhooks")
# How often an idle deliverer looks for due messages: the added latency of a delivery.
POLL_SECONDS = 0.1
# The longest pause between two looks for newly stale jobs.
STALE_SCAN_SECONDS = 5.0
# Attempts in flight per process; more due messages wait for the next free sender.
SENDERS = 8
# What is read of a receiver's answer: enough for an error message, never a whole page.
MAX_RESPONSE_BYTES = 4096
_ERROR_CHARS = 500


class Deliverer:
    """Claims and delivers webhook messages until `stop`; `start` runs it in a thread."""

    def __init__(self, engine: Engine, options: WebhookOptions) -> None:
        self.engine = engine
        self.options = options
        self.name = f"deliverer-{uuid.uuid4().hex[:12]}"
        self._stopped = threading.Event()
        self._free = threading.Semaphore(SENDERS)
        self._senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="lrhub-webhook")
        # Redirects are not followed: one could lead to an address the guard refuses.
        self._http = httpx.Client(
            timeout=httpx.Timeout(options.timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS),
            trust_env=False,
        )
        self._thread = threading.Thread(target=self._run, name="lrhub-webhooks", daemon=True)

    def start(self) -> None:
        """Start claiming in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop claiming and wait for the attempts in flight (each bounded by the timeout)."""
        self._stopped.set()
        self._thread.join()
        self._senders.shutdown(wait=True)
        self._http.close()
        self.engine.dispose()

    def _run(self) -> None:
        # Stale jobs are looked for a few times per LRHUB_STALE_AFTER, at most every few seconds.
        stale_every = min(STALE_SCAN_SECONDS, self.options.stale_after.total_seconds() / 4)
        next_stale_scan = time.monotonic()
        while not self._stopped.is_set():
            try:
                if time.monotonic() >= next_stale_scan:
                    next_stale_scan = time.monotonic() + stale_every
                    webhook_service.announce_stale_jobs(self.engine, self.options.stale_after)
                claimed = self._claim_some()
            except Exception:  # a database outage: try again after a pause, never die
                LOGGER.exception("webhook deliverer could not claim messages")
                claimed = 0
            if claimed == 0:
                self._stopped.wait(POLL_SECONDS)

    def _claim_some(self) -> int:
        """Claim as many due messages as there are free senders, and hand them over."""
        if not self._free.acquire(timeout=POLL_SECONDS):
            return 0
        free = 1
        while free < SENDERS and self._free.acquire(blocking=False):
            free += 1
        claims = webhook_service.claim_due(self.engine, self.options, self.name, free)
        for _ in range(free - len(claims)):
            self._free.release()
        for claim in claims:
            self._senders.submit(self._deliver, claim)
        return len(claims)

    def _deliver(self, claim: Claim) -> None:
        try:
            status_code, error = self.attempt(claim)
            webhook_service.finish_attempt(
                self.engine, self.options, claim, status_code=status_code, error=error
            )
        except Exception:  # the outcome is lost; the lease runs out and the message is retried
            LOGGER.exception("webhook message %s: attempt not recorded", claim.message.message_id)
        finally:
            self._free.release()

    def attempt(self, claim: Claim) -> tuple[int | None, str | None]:
        """Send `claim`'s message once: the answer's status code, or None and what went wrong
        (and, for a non-2xx answer, the start of its body)."""
        message = claim.message
        assert self.options.key is not None  # no webhook exists without it
        try:
            secret = unseal(self.options.key, message.webhook_id, claim.secret)
            target = resolve(claim.url, allow_private=self.options.allow_private)
        except (SecretUnreadable, TargetRefused) as error:
            return None, str(error)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "lrhub-webhooks",
            "host": target.url.netloc,
            "webhook-id": message.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, message.message_id, timestamp, message.payload),
        }
        deadline = time.monotonic() + self.options.timeout
        try:
            with self._http.stream(
                "POST",
                target.connect_url,
                content=message.payload.encode(),
                headers=headers,
                extensions={"sni_hostname": target.host},
            ) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                        break
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:_ERROR_CHARS] or "no answer"
        if 200 <= response.status_code < 300:
            return response.status_code, None
        text = bytes(body[:MAX_RESPONSE_BYTES]).decode(errors="replace")
        return response.status_code, text[:_ERROR_CHARS] or None
