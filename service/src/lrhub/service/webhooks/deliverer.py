"""The deliverer: a background thread per server process that raises `job.stale` events (a
job goes stale by saying nothing, so no request raises them) and claims due messages from the
outbox, and a pool of sender threads that make the attempts, with the deliverer's own database
engine and HTTP client. The claiming thread records the outcomes of the attempts that ended
together with its next claim, one transaction per round. Nothing on the request path waits for
it, so a slow or dead receiver delays no decision; a process killed mid-attempt leaves a claim
whose lease runs out, and the message is claimed again (by any replica) with the next attempt
number and the same `webhook-id`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import Engine

from lrhub.service.errors import DATABASE_UNAVAILABLE_ERRORS
from lrhub.service.webhook_options import WebhookOptions
from lrhub.service.webhooks import service as webhook_service
from lrhub.service.webhooks.model import Claim, Outcome
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
        # Attempts report here; the claiming thread records them with its next claim.
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._unrecorded: list[Outcome] = []
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
        """Stop claiming, wait for the attempts in flight (each bounded by the timeout) and
        record how they went."""
        self._stopped.set()
        self._thread.join()
        self._senders.shutdown(wait=True)
        outcomes = self._unrecorded + self._drain(wait=0)
        try:
            webhook_service.settle_and_claim(self.engine, self.options, self.name, outcomes, 0)
        except Exception:  # their leases run out and the messages are tried again
            LOGGER.exception("webhook deliverer could not record its last attempts")
        self._http.close()
        self.engine.dispose()

    def _drain(self, wait: float) -> list[Outcome]:
        """The outcomes reported so far, after waiting up to `wait` seconds for a first one."""
        outcomes = []
        try:
            outcomes.append(
                self._outcomes.get(timeout=wait) if wait else self._outcomes.get_nowait()
            )
            while True:
                outcomes.append(self._outcomes.get_nowait())
        except queue.Empty:
            return outcomes

    def _run(self) -> None:
        # Stale jobs are looked for a few times per LRHUB_STALE_AFTER, at most every few seconds.
        stale_every = min(STALE_SCAN_SECONDS, self.options.stale_after.total_seconds() / 4)
        next_stale_scan = time.monotonic()
        in_flight, idle = 0, False
        while not self._stopped.is_set():
            # Idle: wait for an attempt to end (or for the next poll); else go on at once.
            drained = self._drain(wait=POLL_SECONDS if idle else 0)
            in_flight -= len(drained)
            outcomes = self._unrecorded + drained
            claims: list[Claim] = []
            try:
                if time.monotonic() >= next_stale_scan:
                    next_stale_scan = time.monotonic() + stale_every
                    webhook_service.announce_stale_jobs(self.engine, self.options.stale_after)
                claims = webhook_service.settle_and_claim(
                    self.engine, self.options, self.name, outcomes, SENDERS - in_flight
                )
                self._unrecorded = []
            except DATABASE_UNAVAILABLE_ERRORS as error:  # keep the outcomes, try again
                LOGGER.warning("webhook deliverer: the database is unavailable: %s", error)
            except Exception:  # a bug: say where, keep the outcomes, never let the loop die
                LOGGER.exception("webhook deliverer could not reach the database")
                self._unrecorded = outcomes
            for claim in claims:
                self._senders.submit(self._deliver, claim)
            in_flight += len(claims)
            idle = not claims

    def _deliver(self, claim: Claim) -> None:
        try:
            status_code, error = self.attempt(claim)
        except Exception as failure:  # a bug must not lose the outcome (or a sender)
            LOGGER.exception("webhook message %s: attempt failed", claim.message.message_id)
            status_code, error = None, f"lrhub could not send it: {type(failure).__name__}"
        self._outcomes.put(Outcome(claim, status_code, error))

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
