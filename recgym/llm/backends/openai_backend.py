"""Persona decisions from any OpenAI-compatible server (vLLM, Ollama, llama.cpp), over plain HTTP.

A server lets a simulation use a model too large for the simulating process, shared by many
runs, on another machine. Only the legacy ``POST /completions`` endpoint is used: it takes the
raw prompt, so ``chat_prompt`` renders the chat itself (ChatML by default) and the prompt a
persona reads is the same text the local transformers backend scores.

Decisions come from next-token log-probabilities, as in every backend: one request per prompt
with ``max_tokens=1, temperature=0, logprobs=top_logprobs``, and each option's log-probability
read from the returned top list (tokens matched by their stripped text, so " Yes" counts for
"Yes"). Some servers answer without log-probabilities; then the model is asked to write a short
answer, and the first option in it (or ``{"answer": ...}``) becomes a near-one-hot distribution.

A server is remote, so it fails: it times out, answers 500 or 429, sends garbage, or goes away.
None of these may crash a simulation that is under way: each is retried with exponential
backoff, and a prompt that still has no answer gets uniform log-probabilities (or "" for
text). Every such event is counted in ``stats``, so a report can say how much of a run was
decided by fallbacks. Only what the caller must fix raises ``BackendError``: an unreachable
server at construction, an invalid parameter, or a 4xx answer (unknown model, bad request).

Example::

    backend = OpenAIBackend("http://127.0.0.1:8080/v1", "smollm2")
    prompt = backend.chat_prompt("You are a viewer who loves cooking.", "Do you watch it? Answer Yes or No.")
    backend.option_logprobs([prompt], ["Yes", "No"])  # float32 [1, 2]
"""

from __future__ import annotations

import http.client
import json
import math
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch

from recgym.llm.backends.base import CHATML, BackendError

T = TypeVar("T")

STATS_KEYS = (
    "requests",  # HTTP requests sent, retries included
    "retries",  # requests repeated after a failure
    "timeouts",  # no answer within timeout_s
    "server_errors",  # HTTP 5xx or 429
    "garbage",  # an answer that is not JSON or not shaped like a completion
    "connection_errors",  # refused, reset or closed before answering
    "prompts_scored",  # prompts given to option_logprobs
    "prompts_generated",  # prompts given to generate
    "options_missing",  # options absent from a top-logprobs list, given the floor
    "no_logprobs",  # scoring answers that came without log-probabilities
    "parsed_answers",  # options read from written text instead of log-probabilities
    "unparsed_answers",  # written answers that named no option (then retried)
    "fallback_uniform",  # prompts scored uniform after every retry failed
    "fallback_empty_text",  # prompts given "" by generate after every retry failed
)

PARSED_ANSWER_EPS = 1e-3
"""Probability left to the other options when an option is read from text: the answer is one sample, not a certainty."""

ANSWER_MAX_TOKENS = 8
"""Tokens the model may write when asked for an answer without log-probabilities."""

_FAILED = object()
"""A request that failed every retry."""


class _Garbage(ValueError):
    """An answer that parsed as JSON but is not shaped like a completion."""


class OpenAIBackend:
    """A model behind an OpenAI-compatible HTTP server; ``model_id`` is the model name sent with each request."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        chat_template: str = CHATML,
        concurrency: int = 8,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        backoff_s: float = 0.25,
        top_logprobs: int = 20,
        check: bool = True,
    ) -> None:
        for name, value, valid, rule in (
            ("concurrency", concurrency, concurrency > 0, "positive"),
            ("timeout_s", timeout_s, timeout_s > 0, "positive"),
            ("max_retries", max_retries, max_retries >= 0, "0 or more"),
            ("backoff_s", backoff_s, backoff_s >= 0, "0 or more"),
            ("top_logprobs", top_logprobs, top_logprobs >= 1, "at least 1"),
        ):
            if not valid:
                raise BackendError(f"{name} must be {rule}; got {value!r}.")
        if "{system}" not in chat_template or "{user}" not in chat_template:
            raise BackendError(f"chat_template must contain {{system}} and {{user}}; got {chat_template!r}.")
        self.base_url = base_url.rstrip("/")
        self.model_id = model
        self.api_key = api_key
        self.chat_template = chat_template
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.top_logprobs = top_logprobs
        self.stats: dict[str, int] = dict.fromkeys(STATS_KEYS, 0)
        self._stats_lock = threading.Lock()
        self.served_models: list[str] = self.check() if check else []

    def check(self) -> list[str]:
        """Ids the server lists at ``GET /models``; BackendError if it is unreachable or not OpenAI-compatible."""
        url = f"{self.base_url}/models"
        fix = (
            "Start the server (e.g. `python -m llama_cpp.server --model FILE.gguf --port 8080`, `vllm serve MODEL`, "
            "`ollama serve`) or fix base_url: it is the address before /completions, usually ending in /v1."
        )
        try:
            with urllib.request.urlopen(self._request(url), timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
            return [str(entry["id"]) for entry in answer["data"]]
        except urllib.error.HTTPError as error:
            raise BackendError(f"GET {url} answered HTTP {error.code}: {_error_message(error)}. {fix}") from error
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise BackendError(f"Cannot reach an OpenAI-compatible server at {url}: {reason}. {fix}") from error
        except (ValueError, KeyError, TypeError) as error:
            raise BackendError(
                f"GET {url} did not answer like an OpenAI-compatible server (expected JSON with a 'data' list of "
                f"models; {type(error).__name__}: {error}). {fix}"
            ) from error

    def chat_prompt(self, system: str, user: str) -> str:
        """``chat_template`` filled in; the completions endpoint takes the rendered text, never chat messages."""
        return self.chat_template.format(system=system, user=user)

    def option_logprobs(self, prompts: list[str], options: list[str]) -> torch.Tensor:
        """Log-probability that the next token after each prompt is each option, float32 [N, O]; failures fall back."""
        if not options or any(not option.strip() for option in options):
            raise BackendError(f"options must be non-empty strings; got {options!r}.")
        if len({option.strip() for option in options}) != len(options):
            raise BackendError(f"options {options!r} are not distinct once stripped of spaces.")
        rows = self._map(lambda prompt: self._score(prompt, options), prompts)
        self._count("prompts_scored", len(prompts))
        return torch.tensor(rows, dtype=torch.float32).reshape(len(prompts), len(options))

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float, seed: int) -> list[str]:
        """A continuation of each prompt; prompt ``i`` is sampled with seed ``seed + i``, whatever the request order."""
        texts = self._map(
            lambda item: self._write(item[1], max_new_tokens, temperature, seed + item[0]), list(enumerate(prompts))
        )
        self._count("prompts_generated", len(prompts))
        self._count("fallback_empty_text", texts.count(None))
        return [text or "" for text in texts]

    def _score(self, prompt: str, options: list[str]) -> list[float]:
        body = {
            "model": self.model_id,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": self.top_logprobs,
        }
        top = self._post("/completions", body, _read_top_logprobs)
        if top is _FAILED:
            self._count("fallback_uniform")
            return _uniform(len(options))
        if top is None:
            self._count("no_logprobs")
            return self._answer_by_text(prompt, options)
        row, missing = _option_row(top, options)
        self._count("options_missing", missing)
        return row

    def _answer_by_text(self, prompt: str, options: list[str]) -> list[float]:
        """Ask for a short written answer (greedy first, then warmer) and read the option it names."""
        for attempt in range(self.max_retries + 1):
            text = self._write(prompt, ANSWER_MAX_TOKENS, 0.0 if attempt == 0 else 0.5 * attempt, seed=attempt)
            if text is None:
                break
            chosen = parse_answer(text, options)
            if chosen is not None:
                self._count("parsed_answers")
                return _near_one_hot(options.index(chosen), len(options))
            self._count("unparsed_answers")
        self._count("fallback_uniform")
        return _uniform(len(options))

    def _write(self, prompt: str, max_tokens: int, temperature: float, seed: int) -> str | None:
        """Generated text, or None when every retry failed."""
        body = {
            "model": self.model_id,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        text = self._post("/completions", body, _read_text)
        return None if text is _FAILED else text

    def _map(self, function: Callable[[Any], T], items: list[Any]) -> list[T]:
        """``function`` over ``items`` on up to ``concurrency`` threads, results in the order of ``items``."""
        if len(items) <= 1 or self.concurrency == 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(function, items))

    def _post(self, path: str, body: dict[str, Any], read: Callable[[Any], T]) -> T | object:
        """``read`` of the JSON answer to ``POST path``, retried with backoff; ``_FAILED`` once retries run out."""
        url = f"{self.base_url}{path}"
        data = json.dumps(body).encode()
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._count("retries")
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            self._count("requests")
            try:
                with urllib.request.urlopen(self._request(url, data), timeout=self.timeout_s) as response:
                    raw = response.read()
            except urllib.error.HTTPError as error:
                if error.code == 408:  # the server's own request timeout: transient, unlike other 4xx
                    self._count("timeouts")
                    continue
                if error.code == 429 or error.code >= 500:
                    self._count("server_errors")
                    continue
                raise BackendError(_client_error(url, error)) from error
            except TimeoutError:
                self._count("timeouts")
                continue
            except urllib.error.URLError as error:
                self._count("timeouts" if isinstance(error.reason, TimeoutError) else "connection_errors")
                continue
            except (OSError, http.client.HTTPException):  # reset, closed without an answer, truncated
                self._count("connection_errors")
                continue
            try:
                return read(json.loads(raw))
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                self._count("garbage")
        return _FAILED

    def _request(self, url: str, data: bytes | None = None) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")

    def _count(self, key: str, amount: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += amount


def parse_answer(text: str, options: list[str]) -> str | None:
    """The option a written answer names: ``{"answer": ...}`` if present, else the first option in it, else None."""
    for match in re.finditer(r"\{[^{}]*\}", text):
        try:
            answer = json.loads(match.group())
        except ValueError:
            continue
        if isinstance(answer, dict) and "answer" in answer:
            chosen = _option_named(str(answer["answer"]).strip(), options)
            if chosen is not None:
                return chosen
    # Whole words only, so "5" is not read from "15" nor "No" from "Nothing"; case-insensitive, exact case first.
    pattern = "|".join(re.escape(option.strip()) for option in sorted(options, key=len, reverse=True))
    for match in re.finditer(rf"(?<![^\W_])(?:{pattern})(?![^\W_])", text, flags=re.IGNORECASE):
        chosen = _option_named(match.group(), options)
        if chosen is not None:
            return chosen
    return None


def _option_named(name: str, options: list[str]) -> str | None:
    stripped = [option.strip() for option in options]
    if name in stripped:
        return options[stripped.index(name)]
    folded = [option.casefold() for option in stripped]
    return options[folded.index(name.casefold())] if folded.count(name.casefold()) == 1 else None


def _read_top_logprobs(answer: Any) -> list[tuple[str, float]] | None:
    """(token, logprob) pairs of the first generated token, or None when the server sent no log-probabilities.

    Reads the legacy completions format (``logprobs.top_logprobs[0]``, a dict token -> logprob: vLLM,
    llama-cpp-python, OpenAI) and the chat format some servers also use for completions
    (``logprobs.content[0].top_logprobs``, a list of ``{"token", "logprob"}``: llama.cpp's llama-server).
    """
    choice = answer["choices"][0]
    if not isinstance(choice, dict):
        raise _Garbage(f"a choice is {type(choice).__name__}, not an object")
    logprobs = choice.get("logprobs")
    if not logprobs:
        return None
    if logprobs.get("top_logprobs") is not None:
        first = logprobs["top_logprobs"][0] if logprobs["top_logprobs"] else None
        pairs = [(str(token), float(value)) for token, value in first.items()] if first else []
    elif logprobs.get("content") is not None:
        first = logprobs["content"][0] if logprobs["content"] else None
        entries = (first or {}).get("top_logprobs") or []
        pairs = [(str(entry["token"]), float(entry["logprob"])) for entry in entries]
    else:
        return None
    pairs = [(token, value) for token, value in pairs if math.isfinite(value) and value <= 0.0]
    return pairs or None


def _read_text(answer: Any) -> str:
    text = answer["choices"][0]["text"]
    if not isinstance(text, str):
        raise _Garbage(f"choices[0].text is {type(text).__name__}, not a string")
    return text


def _option_row(top: list[tuple[str, float]], options: list[str]) -> tuple[list[float], int]:
    """Each option's log-probability from the top list, and how many options were absent from it.

    Every token whose stripped text is the option counts for it (" Yes" and "Yes" are summed). An
    absent option's probability is at most the smallest listed one and at most the mass the list
    leaves out; it gets half the smaller of the two, a floor that stays below every listed token.
    """
    listed_mass = sum(math.exp(value) for _, value in top)
    unlisted = math.log(max(1.0 - listed_mass, 1e-12))
    floor = min(min(value for _, value in top), unlisted) - math.log(2.0)
    row, missing = [], 0
    for option in options:
        matches = [value for token, value in top if token.strip() == option.strip()]
        if matches:
            row.append(min(0.0, _logsumexp(matches)))
        else:
            row.append(floor)
            missing += 1
    return row, missing


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(value - top) for value in values))


def _uniform(num_options: int) -> list[float]:
    return [-math.log(num_options)] * num_options


def _near_one_hot(index: int, num_options: int) -> list[float]:
    if num_options == 1:
        return [0.0]
    rest = math.log(PARSED_ANSWER_EPS / (num_options - 1))
    return [math.log1p(-PARSED_ANSWER_EPS) if option == index else rest for option in range(num_options)]


def _error_message(error: urllib.error.HTTPError) -> str:
    """The server's own message from an error answer ({"error": {"message": ...}} or plain text)."""
    try:
        raw = error.read().decode(errors="replace")
    except OSError:
        return str(error.reason)
    try:
        detail = json.loads(raw)
        message = detail.get("error", detail)
        if isinstance(message, dict):
            message = message.get("message", message)
        return str(message)[:500]
    except (ValueError, AttributeError):
        return raw.strip()[:500] or str(error.reason)


def _client_error(url: str, error: urllib.error.HTTPError) -> str:
    message = _error_message(error)
    hint = {
        401: "Pass the server's key as api_key.",
        403: "Pass a key that may use this model as api_key.",
        404: "Check the model name against GET /models and that base_url ends where /completions starts.",
    }.get(error.code, "The request is wrong for this server; it will not succeed on retry.")
    if "logprobs" in message.lower():
        hint = "Lower top_logprobs (OpenAI allows 5; vLLM's --max-logprobs defaults to 20)."
    return f"POST {url} answered HTTP {error.code}: {message}. {hint}"
