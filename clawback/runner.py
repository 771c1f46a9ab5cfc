"""Executes a validated playbook: ordering, concurrent fan-out, retries, resume, dry-run, approvals.

The runner decides and records; responders act. Every state-changing action gets an ``intent``
entry in the timeline before it runs and a ``result`` entry after, so a crash in between is
visible. One target's failure never stops the others.
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from clawback import __version__
from clawback.errors import EXIT_OK, EXIT_PARTIAL
from clawback.journal import MANUAL_CONFIRM, STEP_END, Journal
from clawback.recorder import Recorder

# restore (issue 16b) still imports these two from here.
from clawback.recorder import outcome_fields as outcome_fields
from clawback.recorder import outcome_summary as outcome_summary
from clawback.registry import ActionParams, Registry, load_agent
from responders.interface import (
    UNDECLARED_RATE_LIMIT,
    Action,
    Capability,
    Collected,
    Credential,
    Failed,
    ManualRequired,
    Outcome,
    Planned,
    RateLimit,
    Refused,
    Responder,
    ResponderContext,
    ResponderError,
    SecretStore,
    SecretValue,
)
from responders.kit.redaction import Redactor

if TYPE_CHECKING:
    from clawback.evidence import Manifest
    from clawback.playbook import LoadedPlaybook
    from clawback.timeline import Timeline

KEYS_REVOKE_ALL = "keys.revoke_all"
KEYS_ROTATE_ALL = "keys.rotate_all"
# The action name of a re-check's result: ``host.stop_service.recheck``.
RECHECK = ".recheck"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 2
MAX_BACKOFF_S = 10.0
# A provider asking us to wait longer than this (GitHub's 60-requests-an-hour limit) is reported
# rather than waited for: the panic button must finish.
MAX_RETRY_AFTER_S = 30.0
# Outcome statuses that leave something for a person: to do, to fix, to approve, or to check.
NEEDS_A_HUMAN = frozenset({"manual", "failed", "refused", "unproven"})


def _engine_params(known_providers: Collection[str]) -> dict[str, type[Any]]:
    import difflib

    from pydantic import BaseModel, ConfigDict, field_validator

    known = frozenset(known_providers)

    class KeyStepParams(BaseModel):
        model_config = ConfigDict(extra="forbid")
        verify: bool = True
        providers: list[str] | None = None
        exclude_providers: list[str] = []

        @field_validator("providers", "exclude_providers")
        @classmethod
        def _known(cls, names: list[str] | None) -> list[str] | None:
            # A typo here would make the step silently act on nothing.
            for name in names or ():
                if name not in known:
                    close = difflib.get_close_matches(name, sorted(known), n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    raise ValueError(
                        f"unknown provider {name!r}: {hint}known providers: "
                        f"{', '.join(sorted(known))}"
                    )
            return names

    class RevokeAllParams(KeyStepParams):
        rotate: bool = False

    class RotateAllParams(KeyStepParams):
        pass

    return {KEYS_REVOKE_ALL: RevokeAllParams, KEYS_ROTATE_ALL: RotateAllParams}


def known_actions(registry: Registry) -> Mapping[str, type[Any]]:
    """Every ``uses:`` a playbook may name, with the model that validates its ``with:``."""
    from responders.kit.secret_patterns import KNOWN_PROVIDERS

    return ActionParams(registry, _engine_params({*KNOWN_PROVIDERS, *registry.names}))


WHEN_VARIABLES = ("cut_network", "dry_run", "yes", "resume")


# --------------------------------------------------------------------------------------------
# What the runner reports while it works
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetResult:
    step: str
    action: str
    target: str
    outcome: Outcome
    target_info: Mapping[str, Any] = field(default_factory=dict)


class Reporter(Protocol):
    def step_started(self, step_id: str, uses: str, description: str) -> None: ...

    def step_skipped(self, step_id: str, reason: str) -> None: ...

    def target_finished(self, result: TargetResult) -> None: ...

    # The latest checkpoint, after every step; ``urgent``: copy it off the host now (the
    # network is about to be cut).
    def checkpoint(self, text: str, *, urgent: bool = False) -> None: ...

    def note(self, message: str) -> None: ...

    # Something the operator must not miss (the signing key kept in a file, say).
    def warn(self, message: str) -> None: ...

    # A state-changing action's intent is on disk and the action is about to run.
    def action_issued(self) -> None: ...


class SilentReporter:
    def step_started(self, step_id: str, uses: str, description: str) -> None:
        pass

    def step_skipped(self, step_id: str, reason: str) -> None:
        pass

    def target_finished(self, result: TargetResult) -> None:
        pass

    def checkpoint(self, text: str, *, urgent: bool = False) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def action_issued(self) -> None:
        pass


Approver = Callable[[str], bool]
MANUAL_CONFIRMED = "ConfirmedByOperator"


class _NoStep:
    """Retry settings for work done outside a playbook step (confirmations on --resume)."""

    timeout: float | None = None
    retries: int | None = None


_NO_STEP = _NoStep()


@dataclass
class RunOptions:
    dry_run: bool = False
    yes: bool = False
    cut_network: bool = False
    interactive: bool = False
    approver: Approver | None = None
    default_timeout: float = DEFAULT_TIMEOUT_S
    default_retries: int = DEFAULT_RETRIES
    confirm_manual: bool = False  # --resume: the operator says every listed manual step is done
    secret_prompt: Callable[[str], str] | None = None  # reads a pasted key without echo


@dataclass
class RunResult:
    incident_id: str
    incident_dir: Path | None
    results: list[TargetResult]
    dry_run: bool
    final_checkpoint: str | None = None
    manifest_sha256: str | None = None
    # What the operator must not miss (degraded mode), and the public key of a signing key
    # kept in the incident directory because the keyring could not hold one.
    warnings: list[str] = field(default_factory=list)
    signing_public_key: str | None = None
    # What ``investigate`` found once the evidence was sealed (clawback.investigate.after);
    # its success or failure never changes the exit code.
    investigation: dict[str, Any] | None = None

    @property
    def remaining(self) -> list[TargetResult]:
        """What a human must still do or look at: manual steps, failures, refusals, and keys
        revoked but not proven dead (their check says what to look at)."""
        return [r for r in self.results if r.outcome.status in NEEDS_A_HUMAN]

    @property
    def unproven(self) -> list[TargetResult]:
        """Keys whose provider answered ambiguously: never counted as dead."""
        return [r for r in self.results if r.outcome.status == "unproven"]

    @property
    def exit_code(self) -> int:
        # A dry run predicts the real run's exit code: what it plans by hand, or could not
        # plan, the real run would leave to a human too.
        return EXIT_PARTIAL if self.remaining else EXIT_OK


# --------------------------------------------------------------------------------------------
# Concurrency helpers
# --------------------------------------------------------------------------------------------


def concurrent_fan_out(func: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """Run ``func`` over ``items`` at once; a raising call becomes a ``Failed`` outcome."""
    return RateLimitedFanOut(UNDECLARED_RATE_LIMIT)(func, items)


class _TokenBucket:
    """Starts at most ``requests`` calls in any ``per_seconds``: full at first, refilled
    continuously. Shared by every fan-out of one responder, so revoke, verify and rotate
    together keep to the provider's rate."""

    def __init__(self, requests: int, per_seconds: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._capacity = float(requests)
        self._tokens = float(requests)
        self._rate = requests / per_seconds
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            self._tokens -= 1  # may go negative: the caller waits its turn in the queue
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait:
            self._sleep(wait)


class RateLimitedFanOut:
    """The engine's fan-out for one responder, kept to the provider's documented rate limit
    (``Responder.rate_limit``): at most ``concurrent`` calls in flight, and paced when the
    provider documents a rate. A raising call becomes a ``Failed`` outcome."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._bucket = (
            _TokenBucket(limit.requests, limit.per_seconds) if limit.requests is not None else None
        )

    def __call__(self, func: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if not items:
            return []
        bucket = self._bucket

        def call(item: Any) -> Any:
            if bucket is not None:
                bucket.take()
            return _call_safely(func, item)

        if len(items) == 1:
            return [call(items[0])]
        with ThreadPoolExecutor(max_workers=min(len(items), self.limit.concurrent)) as pool:
            return list(pool.map(call, items))


def _call_safely(func: Callable[[Any], Any], item: Any) -> Any:
    try:
        return func(item)
    except ResponderError as exc:
        return Failed(error=str(exc), retryable=False)
    except Exception as exc:
        return Failed(error=f"{type(exc).__name__}: {exc}", retryable=True)


def _run_with_timeout(func: Callable[[], Any], timeout: float) -> Any:
    """Call ``func`` in a worker thread; give up waiting after ``timeout`` seconds."""
    pool = ThreadPoolExecutor(max_workers=1)
    future: Future[Any] = pool.submit(func)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        return Failed(error=f"no answer within {timeout:g} s", retryable=True)
    except ResponderError as exc:
        return Failed(error=str(exc), retryable=False)
    except Exception as exc:
        return Failed(error=f"{type(exc).__name__}: {exc}", retryable=True)
    finally:
        # A hung call keeps its thread; we don't wait for it.
        pool.shutdown(wait=False)


def _retryable(outcome: Outcome | None) -> bool:
    return isinstance(outcome, Failed) and outcome.retryable


def retry(attempt: Callable[[], bool], delay: Callable[[int], float | None],
          retries: int) -> None:
    """Call ``attempt`` (it says whether another try is worth it) once, then up to ``retries``
    more times, waiting ``delay(n)`` seconds after the n-th call (0-based; None: stop now).

    The retries go through tenacity. The first call does not: tenacity's import (~6 ms) must
    not delay the panic button's first action, and a retry waits a quarter second anyway."""
    if not attempt() or retries <= 0:
        return
    first = delay(0)
    if first is None:
        return
    time.sleep(first)
    from tenacity import Retrying, retry_if_result, stop_after_attempt
    from tenacity.stop import stop_base

    class Pointless(stop_base):
        def __call__(self, retry_state: Any) -> bool:
            return delay(retry_state.attempt_number) is None

    Retrying(
        retry=retry_if_result(bool),
        stop=stop_after_attempt(retries) | Pointless(),
        # attempt_number counts tenacity's own calls; the first call came before them.
        wait=lambda state: delay(state.attempt_number) or 0.0,
        retry_error_callback=lambda state: None,
        sleep=time.sleep,
    )(attempt)


def _backoff(attempt: int, outcome: Outcome) -> float | None:
    """Seconds to wait before the next attempt, or None when waiting is pointless."""
    delay = min(0.25 * (2**attempt), MAX_BACKOFF_S)
    if isinstance(outcome, Failed) and outcome.retry_after is not None:
        if outcome.retry_after > MAX_RETRY_AFTER_S:
            return None
        delay = max(delay, outcome.retry_after)
    return delay


# --------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------


class Runner:
    def __init__(
        self,
        *,
        registry: Registry,
        playbook: LoadedPlaybook,
        settings: Mapping[str, Any],
        provider_config: Callable[[str], Mapping[str, Any]],
        credentials: Sequence[Credential] | Callable[[], Sequence[Credential]],
        secrets: SecretStore | None,
        options: RunOptions,
        reporter: Reporter | None = None,
        timeline: Timeline | None = None,  # None in a dry run
        journal: Journal | None = None,
        manifest: Manifest | None = None,
        incident_id: str = "",
        incident_dir: Path | None = None,
        configured_providers: Collection[str] | None = None,
        store_for: Callable[[Credential], SecretStore] | None = None,
        host: Any = None,
        host_name: str | None = None,
        unusable: Mapping[str, str] | None = None,
        closing_items: Sequence[TargetResult] = (),
        no_keyring: str | None = None,
        late_credentials: Callable[[], Any] | None = None,
        discovery_notes: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self.registry = registry
        # Degraded mode: responder name -> why its admin credential cannot be used (a missing
        # keyring entry, an unset variable, no keyring at all). Its keys become manual steps
        # that say so; everything else runs.
        self.unusable: Mapping[str, str] = dict(unusable or {})
        # Items for the operator's list that no step produced (the signing key kept in a
        # file): recorded when the run closes.
        self._closing_items = list(closing_items)
        # Why the keyring cannot keep a secret (degraded mode), or None: no replacement key is
        # made then.
        self.no_keyring = no_keyring
        # Where a rotation stores the new secret; the drill's store also switches the agent's
        # own files to it before the old key is retired.
        self.store_for = store_for
        # A fleet run gives each member host its own Runner sharing one timeline: every entry
        # names the host it is about.
        self.host = host
        self.host_name = host_name
        # Only responders with a [providers.X] table may talk to their provider: nobody gets
        # traffic to an API they did not name (and tests can never reach a real one by accident).
        # None means every responder counts as configured (library use).
        self.configured_providers = (
            None if configured_providers is None else frozenset(configured_providers)
        )
        self.loaded = playbook
        self.settings = settings
        self.provider_config = provider_config
        # Discovery can wait until a step needs the keys: stopping the agent must not.
        self._credentials_source = credentials
        self._credentials: list[Credential] | None = None
        # The slow rest of discovery (logs, transcripts), run once the first keys are handled:
        # its new secrets get a second round of the same keys step.
        self._late_source = late_credentials
        self._late_done = False
        self._discovery_notes = discovery_notes
        self.secrets = secrets
        self.options = options
        self.reporter = reporter or SilentReporter()
        self.timeline = timeline
        self.journal = journal
        if journal is not None and timeline is not None:
            # Results are group-committed; the journal's "done" must not outrun them.
            journal.follow(timeline.sync)
        self.manifest = manifest
        self.incident_id = incident_id
        self.incident_dir = incident_dir
        self.redactor = Redactor()
        # Every intent, event and result this run writes goes through it.
        self.recorder = Recorder(timeline, self.redactor, host_name=host_name)
        # Re-checks of actions that succeeded (a stopped service stays stopped) run beside the
        # next steps; ``_closing`` tells them the incident is about to close.
        self._closing = threading.Event()
        self._rechecks: list[threading.Thread] = []
        self._results: list[TargetResult] = []
        self._results_lock = threading.Lock()
        self._step_status: dict[str, str] = {}
        self._responders: dict[str, Responder] = {}

    # -- public -------------------------------------------------------------------------------

    def run(self) -> RunResult:
        if self.journal is not None and self.journal.resumed:
            self._check_journal()
            self._confirm_manual_steps()
        self.run_steps()
        return self._finish()

    # -- fleet hook ---------------------------------------------------------------------------
    # clawback.fleet runs one playbook over several hosts: one Runner per host runs the host
    # steps, a central Runner runs the key steps, all on one timeline that is closed once.

    def run_steps(self, only: Collection[str] | None = None) -> list[TargetResult]:
        """Run the playbook's steps (only those named in ``only``, when given) in order,
        leaving the incident open; returns what they produced."""
        with self._results_lock:
            before = len(self._results)
        self._run_steps(only)
        with self._results_lock:
            # Re-checks land whenever they end; ``settle_rechecks`` hands them out.
            return [r for r in self._results[before:] if not r.action.endswith(RECHECK)]

    def finish(self, others: Sequence[TargetResult] = ()) -> RunResult:
        """Close the incident; ``others`` are the results of the Runners that shared this
        Runner's timeline, so what is left for a human covers them too."""
        with self._results_lock:
            self._results.extend(others)
        return self._finish()

    def _run_steps(self, only: Collection[str] | None) -> None:
        variables = {
            "cut_network": self.options.cut_network,
            "dry_run": self.options.dry_run,
            "yes": self.options.yes,
            "resume": bool(self.journal and self.journal.resumed),
        }
        for step in self.loaded.playbook.steps:
            if only is not None and step.id not in only:
                continue
            if self.journal and self.journal.step_done(step.id):
                self._step_status[step.id] = self.journal.step_status(step.id)
                self.reporter.step_skipped(step.id, "already done before the resume")
                continue
            when = self.loaded.when.get(step.id) if hasattr(self.loaded, "when") else None
            if when is not None and not when.evaluate(variables, self._step_status):
                self._step_status[step.id] = "skipped"
                self.reporter.step_skipped(step.id, f"when: {step.when} is false")
                self._event(step.id, "step.skip", detail=f"when: {step.when} is false")
                self._journal_step(step.id, "skipped")
                continue
            self.reporter.step_started(step.id, step.uses, step.description)
            results = self._run_step(step)
            self._step_status[step.id] = _step_status(results)
            self._journal_step(step.id, self._step_status[step.id])
            if self.timeline is not None:
                self.reporter.checkpoint(self.timeline.checkpoint())

    def _check_journal(self) -> None:
        """The resume journal is not signed: keep only what the timeline backs, and say what
        a forged or stale one claimed."""
        assert self.journal is not None
        if self.timeline is None:
            return
        dropped = self.journal.reconcile(self.timeline.history)
        if not dropped:
            return
        detail = (f"state.json claims what is not in the signed timeline, so it is redone: "
                  f"{'; '.join(dropped[:20])}" + (" …" if len(dropped) > 20 else ""))
        self.reporter.note(detail)
        self._event("resume", "journal.mismatch", detail=detail, dropped=dropped)

    def _confirm_manual_steps(self) -> None:
        """Record, with who and when, the manual steps the operator says are done."""
        assert self.journal is not None
        pending = self.journal.pending_manual()
        if not pending:
            return
        # Built once: configured_targets() may ask each responder to read its config again.
        by_target = {c.target_id: c for c in self._key_targets()}
        for step_id, target, instructions in pending:
            action, _, target_id = target.partition(" ")
            cred = by_target.get(target_id)
            responder = self._usable_responder(cred) if cred is not None else None
            if (action == "rotate" and cred is not None and responder is not None
                    and self._accept_pasted_replacement(step_id, target, cred, responder)):
                continue
            if action == "verify_revoked" and cred is not None and responder is not None:
                # An unproven key is asked again first: the provider may answer clearly now.
                check = self._with_retries(
                    _NO_STEP, functools.partial(responder.verify_revoked, cred)
                )
                self._record_result(TargetResult(step_id, "verify_revoked", target_id, check,
                                                 cred.describe()))
                if check.succeeded:
                    self.journal.mark_target(step_id, target, check.name)
                    continue
                if isinstance(check, Failed):
                    continue  # it still works: no confirmation can make it dead
            if self.options.confirm_manual:
                done = True
            elif self.options.interactive and self.options.approver is not None:
                done = self.options.approver(
                    f"Manual step [{step_id}] {target}: {instructions}\nIs it done?"
                )
            else:
                done = False
            if not done:
                continue
            if (action == "revoke" and cred is not None and responder is not None
                    and Capability.VERIFY_REVOKED in responder.capabilities):
                # Trust, but check: a key the provider still accepts is not done.
                check = self._with_retries(
                    _NO_STEP, functools.partial(responder.verify_revoked, cred)
                )
                self._record_result(TargetResult(step_id, "verify_revoked", target_id, check,
                                                 cred.describe()))
                if isinstance(check, Failed):
                    self.reporter.note(f"not recorded as done: {target_id} still works")
                    continue
            self.recorder.event(
                step_id, MANUAL_CONFIRM, target={"target": target_id, "action": action},
                outcome=MANUAL_CONFIRMED,
                detail=f"{operator_identity()} confirmed this manual step is done",
                extra={"operator": operator_identity()},
            )
            self.journal.mark_target(step_id, target, MANUAL_CONFIRMED)
            self.reporter.note(f"recorded as done: [{step_id}] {target}")
        left = len(self.journal.pending_manual())
        if left and not self.options.interactive:
            self.reporter.note(
                f"{left} manual step(s) still open: do them, then run "
                f"`clawback contain --resume {self.incident_id} --confirm-manual`"
            )

    def _usable_responder(self, cred: Credential) -> Responder | None:
        cls = self.registry.responder_for_provider(cred.provider)
        if cls is None or cls.name in self.unusable or (
                not cls.fallback and cls.needs_config and not self._configured(cls.name)):
            return None
        return self._responder(cls.name)

    def _accept_pasted_replacement(self, step_id: str, target: str, cred: Credential,
                                   responder: Responder) -> bool:
        """A provider with no create API (``Capability.ACCEPT_REPLACEMENT``): the operator
        pastes the key they made; the responder stores and tests it. True when that settled
        the manual step."""
        prompt = self.options.secret_prompt
        if (Capability.ACCEPT_REPLACEMENT not in responder.capabilities or prompt is None
                or not self.options.interactive or not self.secrets):
            return False
        pasted = prompt(f"Paste the replacement for {cred.kind} {cred.fingerprint} "
                        "(input hidden; empty to skip): ").strip()
        if not pasted:
            return False
        value = SecretValue(pasted)
        self.redactor.add(value)
        store = self.secrets
        outcome = self._with_retries(
            _NO_STEP, lambda: responder.accept_replacement(cred, value, store))
        self._record_result(TargetResult(step_id, "rotate", cred.target_id, outcome,
                                         cred.describe()))
        return outcome.succeeded

    # -- steps --------------------------------------------------------------------------------

    def _run_step(self, step: Any) -> list[TargetResult]:
        params = self.loaded.params[step.id]
        if step.approve and not self._approved(step):
            outcome = Refused(
                reason="approval denied" if self.options.interactive else
                "approval needed: no terminal to ask on and --yes not given",
            )
            result = TargetResult(step.id, step.uses, "approval", outcome)
            self._record_result(result)
            return [result]
        if step.uses == KEYS_REVOKE_ALL:
            return self._run_keys_step(step, params)
        if step.uses == KEYS_ROTATE_ALL:
            return self._run_keys_step(step, params, action="rotate")
        action_cls = self.registry.action(step.uses)
        assert action_cls is not None  # the playbook was validated against the registry
        action = action_cls(self._context(action_cls.__module__), params)
        return self._run_action(step, action)

    def _approved(self, step: Any) -> bool:
        if self.options.yes or self.options.dry_run:
            return True
        if not self.options.interactive or self.options.approver is None:
            return False
        return self.options.approver(
            f"Step {step.id!r} ({step.uses}) needs your approval. Run it?"
        )

    def _run_action(self, step: Any, action: Action) -> list[TargetResult]:
        targets = [
            t for t in action.targets()
            if not (self.journal and self.journal.target_done(step.id, f"{step.uses} {t}"))
        ]
        if self.options.dry_run:
            results = [
                TargetResult(step.id, step.uses, t, self._safe_plan(action, t)) for t in targets
            ]
            for r in results:
                self._record_result(r)
            return results
        if action.checkpoint_before and self.timeline is not None:
            self.reporter.checkpoint(self.timeline.checkpoint(), urgent=True)

        def one(target: str) -> TargetResult:
            info = {"target": target}
            intent_seq = None
            if action.state_changing:
                intent_seq = self._intent(step.id, step.uses, info)
            outcome = self._with_retries(step, lambda: action.execute(target))
            result = TargetResult(step.id, step.uses, target, outcome, info)
            self._record_result(result, intent_seq=intent_seq)
            if outcome.succeeded:
                self._start_recheck(step, action, target)
            return result

        return concurrent_fan_out(one, targets)

    def _start_recheck(self, step: Any, action: Action, target: str) -> None:
        """Run ``action.recheck`` beside the next steps; its outcome is recorded as its own
        result (``<uses>.recheck``) before the incident closes, and fails the step if it must."""
        if type(action).recheck is Action.recheck:
            return

        def watch() -> None:
            try:
                outcome = action.recheck(target, self._closing)
            except ResponderError as exc:
                outcome = Failed(error=str(exc))
            except Exception as exc:
                outcome = Failed(error=f"{type(exc).__name__}: {exc}")
            if outcome is None:
                return
            result = TargetResult(step.id, f"{step.uses}{RECHECK}", target, outcome,
                                  {"target": target})
            self._record_result(result)
            if not outcome.succeeded:
                self._step_status[step.id] = _step_status([result])
                self._journal_step(step.id, self._step_status[step.id])

        thread = threading.Thread(target=watch, name=f"clawback-recheck-{step.id}", daemon=True)
        with self._results_lock:
            self._rechecks.append(thread)
        thread.start()

    def settle_rechecks(self) -> list[TargetResult]:
        """Tell the running re-checks the incident is closing, wait for them, and return every
        result they recorded (a fleet run settles each host's before it disconnects)."""
        self._closing.set()
        with self._results_lock:
            pending, self._rechecks = self._rechecks, []
        for thread in pending:
            thread.join()
        with self._results_lock:
            return [r for r in self._results if r.action.endswith(RECHECK)]

    def _safe_plan(self, action: Action, target: str) -> Outcome:
        try:
            return action.plan(target)
        except ResponderError as exc:
            return Failed(error=str(exc))

    def _run_keys_step(self, step: Any, params: Any, *, action: str = "revoke"
                       ) -> list[TargetResult]:
        """``keys.revoke_all`` (action "revoke") or ``keys.rotate_all`` (action "rotate").

        The keys discovery found without reading free text go first; what the slower scan of
        logs and transcripts finds after that gets a second round, so it never delays the
        first revocation.
        """
        first = [c for c in self._key_targets() if self._selected(c, params)]
        results = self._keys_round(step, params, action, first) if first else []
        late = [c for c in self._late_targets() if self._selected(c, params)]
        if late:
            results += self._keys_round(step, params, action, late)
        if not first and not late:
            return [self._nothing_found(step, params, action)]
        return results

    def _keys_round(self, step: Any, params: Any, action: str, creds: list[Credential]
                    ) -> list[TargetResult]:
        creds = [c for c in creds if self._pending(step, params, action, c)]
        groups, results = self._route(step, creds, action)
        handle = self._revoke_group if action == "revoke" else self._rotate_group

        def per_responder(name: str) -> list[TargetResult]:
            return handle(step, params, self._responder(name), groups[name])

        for group in concurrent_fan_out(per_responder, list(groups)):
            if isinstance(group, Failed):  # the responder itself blew up
                continue
            results.extend(group)
        return results

    def _nothing_found(self, step: Any, params: Any, action: str) -> TargetResult:
        """No key at all is not an all-clear: most often clawback looked in the wrong home."""
        which = f"{', '.join(params.providers)} " if params.providers else ""
        home = (self.settings.get("agent") or {}).get("user_home") or str(Path.home())
        outcome = ManualRequired(
            detail=f"no {which}key found to {action}",
            instructions=(
                f"clawback found no {which}key to {action} under {home}. Nothing found is not "
                f"all clear: if the agent runs as another user, give its home (clawback "
                f"contain --home DIR, or [agent] user_home in clawback.toml) and run again; "
                f"otherwise check its keys by hand."
            ),
        )
        result = TargetResult(step.id, action, "keys", outcome)
        self._record_result(result)
        return result

    def _done(self, step: Any, action: str, cred: Credential) -> bool:
        return bool(self.journal and self.journal.target_done(step.id,
                                                             f"{action} {cred.target_id}"))

    def _pending(self, step: Any, params: Any, action: str, cred: Credential) -> bool:
        """Still to do on a resume: its action, or (revoked already) the replacement a crash
        interrupted."""
        if not self._done(step, action, cred):
            return True
        return bool(action == "revoke" and getattr(params, "rotate", False)
                    and not self._done(step, "rotate", cred))

    def _route(self, step: Any, creds: list[Credential], action: str
               ) -> tuple[dict[str, list[Credential]], list[TargetResult]]:
        """Group credentials by responder; what no usable responder takes becomes advice."""
        groups: dict[str, list[Credential]] = {}
        results: list[TargetResult] = []
        for cred in creds:
            cls = self.registry.responder_for_provider(cred.provider)
            places = ", ".join(str(loc) for loc in cred.locations)
            if cls is None:
                detail = "no responder for this provider"
                instructions = (
                    f"No responder can {action} this {cred.provider} secret ({cred.kind}, "
                    f"{cred.fingerprint}). Do it in the provider's console, then update: {places}"
                )
            elif cls.name in self.unusable:
                detail = "admin credential unusable"
                instructions = (
                    f"clawback could not use the admin credential of [providers.{cls.name}] "
                    f"({self.unusable[cls.name]}), so it did not {action} this {cred.kind} "
                    f"({cred.fingerprint}). Do it in the provider's console and update: "
                    f"{places}; or fix the credential and resume the incident "
                    f"(clawback contain --resume ID)."
                )
            elif not cls.fallback and cls.needs_config and not self._configured(cls.name):
                detail = f"[providers.{cls.name}] not configured"
                instructions = (
                    f"clawback can {action} this {cred.kind} ({cred.fingerprint}) itself once "
                    f"[providers.{cls.name}] is in clawback.toml (see `clawback drill "
                    f"--preflight`); until then do it in the provider's console and update: "
                    f"{places}"
                )
            else:
                groups.setdefault(cls.name, []).append(cred)
                continue
            result = TargetResult(step.id, action, cred.target_id,
                                  ManualRequired(detail=detail, instructions=instructions),
                                  cred.describe())
            self._record_result(result)
            results.append(result)
        return groups, results

    def _rotate_group(
        self, step: Any, params: Any, responder: Responder, creds: list[Credential]
    ) -> list[TargetResult]:
        """Zero-downtime rotation: the responder creates, stores (through ``store_for``, which
        can switch the agent over), tests, then retires the old key; the engine times each."""
        if self.options.dry_run:
            results = [
                TargetResult(step.id, "rotate", c.target_id,
                             Planned(action="rotate", detail=f"rotate {c.kind} {c.fingerprint}"),
                             c.describe())
                for c in creds
            ]
            for r in results:
                self._record_result(r)
            return results
        if Capability.ROTATE not in responder.capabilities:
            results = []
            for cred in creds:
                outcome = ManualRequired(instructions=(
                    f"{responder.name} cannot create keys through an API: make a replacement for "
                    f"{cred.kind} {cred.fingerprint} by hand, store it with `keyring set "
                    f"clawback {cred.provider}/{cred.key_id or 'key'}`, then revoke the old one"
                ))
                result = TargetResult(step.id, "rotate", cred.target_id, outcome, cred.describe())
                self._record_result(result)
                results.append(result)
            return results

        def one(cred: Credential) -> list[TargetResult]:
            intent = self._intent(step.id, "rotate", _cred_target(cred))
            store = self._rotation_store(cred)
            if isinstance(store, Outcome):
                refused = TargetResult(step.id, "rotate", cred.target_id, store, cred.describe())
                self._record_result(refused, intent_seq=intent)
                return [refused]
            started = time.monotonic()
            outcome = self._with_retries(
                step, lambda: responder.rotate(cred, store)
            )
            elapsed_ms = round((time.monotonic() - started) * 1000)
            outcome = dataclasses.replace(
                outcome, facts={**outcome.facts, "duration_ms": elapsed_ms}
            )
            done = [TargetResult(step.id, "rotate", cred.target_id, outcome, cred.describe())]
            self._record_result(done[0], intent_seq=intent)
            if (params.verify and outcome.succeeded
                    and Capability.VERIFY_REVOKED in responder.capabilities):
                check = self._with_retries(step, lambda: responder.verify_revoked(cred))
                done.append(TargetResult(step.id, "verify_revoked", cred.target_id, check,
                                         cred.describe()))
                self._record_result(done[1])
            return done

        results = []
        for group in responder.context.fan_out(one, creds):
            if isinstance(group, list):
                results.extend(group)
        return results

    def _rotation_store(self, cred: Credential) -> SecretStore | Outcome:
        """The store a rotation of ``cred`` keeps its replacement in, or the outcome that says
        why it cannot start. Whatever goes wrong here is this key's result: raised into the
        fan-out it became an outcome with no target, the intent went unanswered and the key
        was silently left without a successor."""
        try:
            return self.store_for(cred) if self.store_for else self.secrets  # type: ignore[return-value]
        except ResponderError as exc:
            return ManualRequired(instructions=str(exc))
        except Exception as exc:
            return Failed(error=f"the rotation could not start ({type(exc).__name__}: {exc})")

    @property
    def credentials(self) -> list[Credential]:
        if self._credentials is None:
            source = self._credentials_source
            found, notes = _found(source() if callable(source) else source)
            if self._discovery_notes is not None:
                notes = [*notes, *self._discovery_notes()]
            for cred in found:
                if cred.secret is not None:
                    self.redactor.add(cred.secret)
            self._credentials = found
            if callable(source):
                self._record_discovery("discover", found, notes,
                                       f"{len(found)} secret(s) the agent could reach")
        return self._credentials

    def _late_targets(self) -> list[Credential]:
        """New secrets from the rest of discovery (run once); they join ``credentials``."""
        if self._late_source is None or self._late_done:
            return []
        self._late_done = True
        # Known: what discovery found first, and every new value this run made itself.
        known = {c.fingerprint for c in self.credentials}
        with self._results_lock:
            known |= {str(getattr(r.outcome, "new_fingerprint", "") or "")
                      for r in self._results}
        found, notes = _found(self._late_source())
        new = [c for c in found if c.fingerprint not in known]
        for cred in new:
            if cred.secret is not None:
                self.redactor.add(cred.secret)
        assert self._credentials is not None
        self._credentials.extend(new)
        self._record_discovery("discover.free_text", new, notes,
                               f"{len(new)} more secret(s) found in logs, transcripts and "
                               "histories")
        return new

    def _record_discovery(self, action: str, found: Sequence[Credential],
                          notes: Sequence[str], detail: str) -> None:
        """Timeline event and one console line: what discovery found, and what it could not
        read or did not follow (each note is the agent's text: stored as is, shown escaped)."""
        if notes:
            self.reporter.note(
                f"discovery: {len(notes)} note(s) on places not read or not followed, "
                f"e.g. {notes[0]} (all in the timeline; `clawback discover` lists them)"
            )
        self.recorder.event(
            "discover", action, detail=detail,
            extra={"providers": sorted({c.provider for c in found}),
                   **({"notes": [self.redactor.text(n) for n in notes]} if notes else {})},
        )

    def _configured(self, name: str) -> bool:
        return self.configured_providers is None or name in self.configured_providers

    def _key_targets(self) -> list[Credential]:
        """Discovered credentials plus what configured responders name themselves."""
        targets = {c.target_id: c for c in self.credentials}
        for cls in self.registry.key_responders:
            if (not self.provider_config(cls.name) or not self._configured(cls.name)
                    or cls.name in self.unusable):
                continue
            for cred in self._responder(cls.name).configured_targets():
                targets.setdefault(cred.target_id, cred)
        return list(targets.values())

    def _selected(self, cred: Credential, params: Any) -> bool:
        if params.providers is not None and cred.provider not in params.providers:
            return False
        return cred.provider not in params.exclude_providers

    def _responder(self, name: str) -> Responder:
        if name not in self._responders:
            cls = self.registry.responders[name]
            self._responders[name] = cls(
                self._context(name, self.provider_config(name), rate_limit=cls.rate_limit)
            )
        return self._responders[name]

    def _revoke_group(
        self, step: Any, params: Any, responder: Responder, creds: list[Credential]
    ) -> list[TargetResult]:
        if self.options.dry_run:
            try:
                planned = responder.plan(creds)
            except ResponderError as exc:
                planned = [(c, Failed(error=str(exc))) for c in creds]
            planned_results = [
                TargetResult(step.id, "revoke", c.target_id, o, c.describe()) for c, o in planned
            ]
            for r in planned_results:
                self._record_result(r)
            return planned_results

        # On a resume some keys are revoked already and only wait for their replacement.
        rotate_only = [c for c in creds if self._done(step, "revoke", c)]
        creds = [c for c in creds if not self._done(step, "revoke", c)]
        intents = {c.target_id: self._intent(step.id, "revoke", _cred_target(c)) for c in creds}
        outcomes = self._revoke_with_retries(step, responder, creds) if creds else {}
        results: list[TargetResult] = []
        for cred in creds:
            result = TargetResult(
                step.id, "revoke", cred.target_id, outcomes[cred.target_id], cred.describe()
            )
            self._record_result(result, intent_seq=intents[cred.target_id])
            results.append(result)

        dead = [c for c in creds if outcomes[c.target_id].succeeded]
        if params.verify and Capability.VERIFY_REVOKED in responder.capabilities:
            for cred, outcome in zip(
                dead,
                responder.context.fan_out(
                    lambda c: self._with_retries(step, lambda: responder.verify_revoked(c)), dead
                ),
                strict=True,
            ):
                result = TargetResult(step.id, "verify_revoked", cred.target_id, outcome,
                                      cred.describe())
                self._record_result(result)
                results.append(result)
        if (params.rotate and Capability.ROTATE in responder.capabilities and self.secrets
                and self.no_keyring is not None):
            # A new key nobody could keep would be one more live key: make none.
            for cred in [*dead, *rotate_only]:
                result = TargetResult(step.id, "rotate", cred.target_id, ManualRequired(
                    detail="no keyring to keep a replacement",
                    instructions=(
                        f"clawback made no replacement for {cred.kind} {cred.fingerprint}: the "
                        f"keyring cannot keep one ({self.no_keyring}). Create it by hand in the "
                        f"provider's console once the old key is dead, and give it to the "
                        f"agent; or make the keyring usable and resume the incident."
                    ),
                ), cred.describe())
                self._record_result(result)
                results.append(result)
        elif params.rotate and Capability.ROTATE in responder.capabilities and self.secrets:

            def replace(cred: Credential) -> TargetResult:
                seq = self._intent(step.id, "rotate", _cred_target(cred))
                store = self._rotation_store(cred)
                outcome = store if isinstance(store, Outcome) else self._with_retries(
                    step, lambda: responder.rotate(cred, store)
                )
                result = TargetResult(step.id, "rotate", cred.target_id, outcome, cred.describe())
                self._record_result(result, intent_seq=seq)
                return result

            for result in responder.context.fan_out(replace, [*dead, *rotate_only]):
                if isinstance(result, TargetResult):
                    results.append(result)
        return results

    def _revoke_with_retries(
        self, step: Any, responder: Responder, creds: list[Credential]
    ) -> dict[str, Outcome]:
        """One batch call, then the keys whose failure is retryable again, as a batch."""
        timeout = step.timeout or self.options.default_timeout
        retries = step.retries if step.retries is not None else self.options.default_retries
        outcomes: dict[str, Outcome] = {}
        pending = list(creds)

        def attempt() -> bool:
            nonlocal pending
            answer = _run_with_timeout(functools.partial(responder.revoke_all, pending), timeout)
            if isinstance(answer, Outcome):  # the whole batch failed
                answer = [(c, answer) for c in pending]
            for cred, outcome in answer:
                outcomes[cred.target_id] = outcome
            for cred in pending:
                outcomes.setdefault(cred.target_id, Failed(error="the responder said nothing"))
            pending = [c for c in pending if _retryable(outcomes[c.target_id])]
            return bool(pending)

        def delay(done: int) -> float | None:
            wait = max((_backoff(done, outcomes[c.target_id]) or -1) for c in pending)
            return None if wait < 0 else wait

        retry(attempt, delay, retries)
        return outcomes

    def _with_retries(self, step: Any, call: Callable[[], Outcome]) -> Outcome:
        timeout = step.timeout or self.options.default_timeout
        retries = step.retries if step.retries is not None else self.options.default_retries
        outcome: Outcome = Failed(error="not attempted")

        def attempt() -> bool:
            nonlocal outcome
            outcome = _run_with_timeout(call, timeout)
            return _retryable(outcome)

        retry(attempt, lambda done: _backoff(done, outcome), retries)
        return outcome

    # -- recording ----------------------------------------------------------------------------

    def _context(self, name: str, config: Mapping[str, Any] | None = None, *,
                 rate_limit: RateLimit = UNDECLARED_RATE_LIMIT) -> ResponderContext:
        return ResponderContext(
            config=dict(config or {}),
            secrets=self.secrets,
            dry_run=self.options.dry_run,
            incident_id=self.incident_id,
            incident_dir=self.incident_dir,
            fan_out=RateLimitedFanOut(rate_limit),
            settings=self.settings,
            host=self.host,
            host_name=self.host_name,
            agent_keeper=load_agent,
        )

    def _intent(self, step: str, action: str, target: Mapping[str, Any]) -> int | None:
        seq = self.recorder.intent(step, action, target)
        if seq is not None:
            self.reporter.action_issued()
        return seq

    def _event(self, step: str, action: str, *, detail: str = "", **extra: Any) -> None:
        self.recorder.event(step, action, detail=detail, extra=extra)

    def _record_result(self, result: TargetResult, *, intent_seq: int | None = None) -> None:
        outcome = self._scrub(result.outcome)
        result = dataclasses.replace(result, outcome=outcome)
        with self._results_lock:
            self._results.append(result)
        if self.recorder.active:
            refs: list[str] = []
            if isinstance(outcome, Collected):
                refs = [item.evidence_id for item in outcome.items]
                self._record_collection(result.step, outcome)
            refs += self._record_evidence_files(result, outcome)
            self.recorder.result(
                result.step, result.action, outcome,
                target={"target": result.target, **result.target_info},
                evidence_refs=refs, intent_seq=intent_seq,
            )
        # The journal keys a target by action too: a key revoked for good may still wait for
        # the human half of its rotation.
        journal_key = f"{result.action} {result.target}"
        if self.journal is not None and outcome.status in ("ok", "skipped"):
            self.journal.mark_target(result.step, journal_key, outcome.name)
        elif self.journal is not None and outcome.status in ("manual", "unproven"):
            self.journal.mark_manual(result.step, journal_key, outcome_summary(outcome))
        self.reporter.target_finished(result)

    def _record_evidence_files(self, result: TargetResult, outcome: Outcome) -> list[str]:
        """Files a responder wrote into the evidence directory (``facts["evidence_files"]``,
        relative to the incident) join the manifest, so verify checks them too."""
        names = outcome.facts.get("evidence_files") if outcome.facts else None
        if not names or self.incident_dir is None or self.manifest is None:
            return []
        refs = []
        source = f"{result.action} {result.target}"
        for name in names:
            path = self.incident_dir / str(name)
            try:
                record = self.manifest.add_file(result.step, path, source=source)
            except (OSError, ValueError) as exc:
                self._event(result.step, "evidence.file", detail=f"{name} not sealed: {exc}")
                continue
            if self.journal is not None:
                self.journal.add_evidence_file(result.step, str(name), source)
            refs.append(record.file)
        return refs

    def _record_collection(self, step: str, collected: Collected) -> None:
        if self.manifest is not None:
            self.manifest.add(step, collected)
        if self.journal is not None:
            self.journal.add_collection(step, collected)
        for item in collected.items:
            self.recorder.event(
                step, "evidence.item",
                target={"source": self.redactor.text(item.source), "sha256": item.sha256},
                detail=f"{item.kind} {item.size} bytes"
                + (" (truncated)" if item.truncated else ""),
                evidence_refs=[item.evidence_id],
            )

    def _scrub(self, outcome: Outcome) -> Outcome:
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(outcome):
            value = getattr(outcome, f.name)
            if isinstance(value, str):
                changes[f.name] = self.redactor.text(value)
            elif f.name == "facts":
                changes[f.name] = self.redactor.value(dict(value))
        return dataclasses.replace(outcome, **changes)

    def _journal_step(self, step_id: str, status: str) -> None:
        if self.journal is not None:
            # Signed first: a resume believes the journal's "done" only with this behind it.
            self._event(step_id, STEP_END, detail=status)
            self.journal.mark_step(step_id, status)

    def _finish(self) -> RunResult:
        self.settle_rechecks()  # recorded in self._results by the re-checks themselves
        for item in self._closing_items:
            self._record_result(item)
        self._closing_items = []
        result = RunResult(
            incident_id=self.incident_id,
            incident_dir=self.incident_dir,
            results=list(self._results),
            dry_run=self.options.dry_run,
        )
        if self.timeline is None:
            return result
        remaining = result.remaining
        if remaining:
            self._event(
                "close", "remaining",
                detail=f"{len(remaining)} item(s) need a human",
                items=[
                    {"step": r.step, "target": r.target, "outcome": r.outcome.name,
                     "detail": outcome_summary(r.outcome)}
                    for r in remaining
                ],
            )
        incident_dir = self.incident_dir
        assert incident_dir is not None  # a timeline is always opened in an incident directory
        manifest_sha = None
        if self.manifest is not None and self.manifest.has_items():
            from clawback.evidence import write_manifest

            manifest_sha = write_manifest(incident_dir, self.manifest)
        self.timeline.close(manifest_sha256=manifest_sha)
        result.final_checkpoint = (incident_dir / "checkpoint.txt").read_text()
        result.manifest_sha256 = manifest_sha
        if self.journal is not None:
            self.journal.mark_closed()
        return result


def _found(discovered: Any) -> tuple[list[Credential], list[str]]:
    """Credentials and notes from what a discovery source returned: an Inventory (anything
    with ``credentials`` and ``notes``) or a plain sequence of credentials."""
    if hasattr(discovered, "credentials"):
        return list(discovered.credentials), list(getattr(discovered, "notes", ()))
    return list(discovered), []


def _cred_target(cred: Credential) -> dict[str, Any]:
    """The timeline target of a key action; intent and result must carry the same one."""
    return {"target": cred.target_id, **cred.describe()}


def _step_status(results: Sequence[TargetResult]) -> str:
    statuses = {r.outcome.status for r in results}
    for status in ("failed", "refused", "unproven", "manual"):
        if status in statuses:
            return status
    if statuses and statuses <= {"skipped"}:
        return "skipped"
    return "ok"


def operator_identity() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def tool_identity() -> str:
    return f"clawback/{__version__}"

