"""The short azure-core pipeline of one service: the SDK's retry policy, one front policy (date, request
id, user agent, request counter, the SDK's own signing policy) and the shared transport."""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from wsgiref.handlers import format_date_time

from azure.core.pipeline import AsyncPipeline, PipelineRequest
from azure.core.pipeline.policies import AsyncHTTPPolicy, SansIOHTTPPolicy
from azure.core.pipeline.transport._aiohttp import AioHttpTransport


class _FrontPolicy(AsyncHTTPPolicy[Any, Any]):
    """What the SDK pipelines do per attempt after their retry policy, in one step: the date, a client
    request id and the SDK's user agent; the request counter's hook where the SDK runs
    ``raw_request_hook`` (before signing for queues, after it for tables); the SDK's own credential
    policy's ``on_request`` (SharedKey or SAS signing)."""

    def __init__(
        self,
        user_agent: str,
        *,
        plain_date: bool,
        sign: Callable[[PipelineRequest[Any]], None] | None,
        hook: Callable[[PipelineRequest[Any]], None],
        hook_after_signing: bool,
    ) -> None:
        super().__init__()
        self._user_agent = user_agent
        self._plain_date = plain_date  # azure-data-tables also sends ``Date``
        self._sign = sign
        self._hook = hook
        self._hook_after_signing = hook_after_signing
        self._second = -1
        self._date = ""

    async def send(self, request: PipelineRequest[Any]) -> Any:
        now = int(time.time())
        if now != self._second:
            self._date, self._second = format_date_time(now), now
        headers = request.http_request.headers
        headers["x-ms-date"] = self._date
        if self._plain_date:
            headers["Date"] = self._date
        headers["x-ms-client-request-id"] = str(uuid.uuid4())  # the SDK's uuid1 costs 4x as much
        headers["User-Agent"] = self._user_agent
        if not self._hook_after_signing:
            self._hook(request)
        if self._sign is not None:
            self._sign(request)
        if self._hook_after_signing:
            self._hook(request)
        return await self.next.send(request)


def _plain_credential_policy(policy: Any) -> bool:
    """Whether ``policy`` only signs in a synchronous ``on_request`` (SharedKey, SAS), so the front
    policy may call it directly; anything else stays a pipeline policy of its own."""
    cls = type(policy)
    return (
        isinstance(policy, SansIOHTTPPolicy)
        and cls.on_response is SansIOHTTPPolicy.on_response
        and cls.on_exception is SansIOHTTPPolicy.on_exception
        and not inspect.iscoroutinefunction(policy.on_request)
    )


def fast_pipeline(
    transport: AioHttpTransport,
    retry: Any,
    credential: Any,
    user_agent: str,
    *,
    plain_date: bool,
    hook: Callable[[PipelineRequest[Any]], None],
    hook_after_signing: bool,
) -> FastPipeline | None:
    """The fast pipeline of one service, or ``None`` when its credential is not a plain signing
    policy (a token credential: clients.py builds none today), which keeps the SDK's path."""
    if credential is not None and not _plain_credential_policy(credential):
        return None
    front = _FrontPolicy(
        user_agent,
        plain_date=plain_date,
        sign=None if credential is None else credential.on_request,
        hook=hook,
        hook_after_signing=hook_after_signing,
    )
    return FastPipeline(AsyncPipeline(transport, policies=[retry, front]))


@dataclass
class FastPipeline:
    """The short pipeline of one service: the SDK's retry policy → :class:`_FrontPolicy` → the shared
    transport."""

    pipeline: AsyncPipeline[Any, Any]


def user_agent(client: Any) -> str:
    """The ``User-Agent`` the SDK client's own ``UserAgentPolicy`` sends."""
    from azure.core.pipeline.policies import UserAgentPolicy

    for policy in getattr(client, "_policies", None) or ():  # azure-data-tables
        if isinstance(policy, UserAgentPolicy):
            return policy.user_agent
    agent = getattr(getattr(getattr(client, "_config", None), "user_agent_policy", None), "user_agent", None)
    return str(agent) if agent else "azsdk-python"
